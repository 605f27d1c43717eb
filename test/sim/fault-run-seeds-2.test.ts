// Randomized fault runs, seeds 26–50 (issue 13 item 3: at least 50 seeds in `npm test`).
import { describe } from 'node:test';
import { seedSuite } from './fault-seeds.ts';

describe('randomized fault runs (seeds 26–50)', () => seedSuite(26, 50));
