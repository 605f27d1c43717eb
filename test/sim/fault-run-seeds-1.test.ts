// Randomized fault runs, seeds 1–25 (issue 13 item 3: at least 50 seeds in `npm test`).
import { describe } from 'node:test';
import { seedSuite } from './fault-seeds.ts';

describe('randomized fault runs (seeds 1–25)', () => seedSuite(1, 25));
