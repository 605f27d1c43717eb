/**
 * @module
 * The doctor's check of this machine: free space where the key store lives. SQLite needs room
 * for its WAL and checkpoints; a full disk makes every write (a round's persist) fail, and a
 * node that cannot persist submits nothing.
 */
import { statfs } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fail, pass, warn, type DoctorCheck } from './report.ts';
import type { DoctorConfig } from './run-doctor.ts';

/** Free bytes available to this user on the file system holding `dir`. */
export type FreeBytes = (dir: string) => Promise<number>;

export const DISK_FAIL_BYTES = 64 * 1024 * 1024;
export const DISK_WARN_BYTES = 1024 * 1024 * 1024;

const defaultFreeBytes: FreeBytes = async (dir) => {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
};

const mib = (n: number): string => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${Math.floor(n / 1024 ** 2)} MiB`);

export async function hostChecks(config: DoctorConfig, freeBytes: FreeBytes = defaultFreeBytes): Promise<DoctorCheck[]> {
  // A data directory not created yet: the file system it will be created on.
  let dir = resolve(config.dataDir);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  let free: number;
  try {
    free = await freeBytes(dir);
  } catch (e) {
    return [warn('disk', `cannot read the free space of ${dir}: ${(e as Error).message}`, 'check --data-dir and its permissions')];
  }
  const text = `${mib(free)} free on the file system of ${dir}`;
  if (free < DISK_FAIL_BYTES) return [fail('disk', `${text}: the key store cannot write safely`, 'free space on that file system (or move --data-dir), then restart the node')];
  if (free < DISK_WARN_BYTES) return [warn('disk', `${text} (less than 1 GiB)`, 'free space on that file system before it fills')];
  return [pass('disk', text)];
}
