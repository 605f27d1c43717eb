/**
 * What an attacker with a node's key store and its storage key can read: every value the
 * store holds, decrypted (through the store's own API, which opens every sealed value), and,
 * for a SQLite store, every byte of its files (database, WAL, shared memory) and every column
 * of every row of every table as stored. `findSecrets` searches all of it for needles in
 * binary and hex form.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import type { KeyStore } from '../../src/node/key-store.ts';

export interface Needle {
  readonly label: string;
  readonly bytes: Uint8Array;
}

export interface StoreDump {
  /** Where each blob came from → its bytes. */
  readonly blobs: ReadonlyMap<string, Uint8Array>;
}

const enc = new TextEncoder();

/** Every value `store` holds (decrypted) and, when `sqlite` is given, its files and raw rows. */
export function dumpStore(store: KeyStore, sqlite: { path: string; storageKey: Uint8Array } | null): StoreDump {
  const blobs = new Map<string, Uint8Array>();
  for (const v of store.listVersions()) {
    blobs.set(`version ${v.id}`, enc.encode(JSON.stringify({ ...v, share: v.share.toString(16) })));
    blobs.set(`version ${v.id} share`, bigintBytes(v.share));
  }
  for (const k of store.listSessionKeys()) {
    blobs.set(`session key ${k.publicKey}`, k.secretKey);
  }
  for (const id of store.listRoundStates()) blobs.set(`round state ${id}`, enc.encode(JSON.stringify(store.getRoundState(id))));
  if (sqlite) {
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      const p = sqlite.path + suffix;
      if (existsSync(p)) blobs.set(`file ${p}`, readFileSync(p));
    }
    // The store holds an exclusive lock while open: read the rows through a copy of its files.
    const copy = `${sqlite.path}.forensics`;
    try {
      writeCopies(sqlite.path, copy);
      const db = new Database(copy, { readonly: true, fileMustExist: true });
      try {
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
        for (const { name } of tables) {
          const rows = db.prepare(`SELECT * FROM "${name}"`).all() as Record<string, unknown>[];
          rows.forEach((row, i) => {
            for (const [col, value] of Object.entries(row)) {
              const bytes = value instanceof Uint8Array ? value : enc.encode(String(value));
              blobs.set(`row ${name}[${i}].${col}`, bytes);
            }
          });
        }
      } finally {
        db.close();
      }
    } catch {
      // A store whose files cannot be copied while open: the file bytes above still count.
    }
  }
  return { blobs };
}

function writeCopies(path: string, copy: string): void {
  for (const suffix of ['', '-wal']) {
    if (existsSync(path + suffix)) copyFileSync(path + suffix, copy + suffix);
    else if (existsSync(copy + suffix)) rmSync(copy + suffix);
  }
}

function bigintBytes(x: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(x.toString(16).padStart(64, '0'), 'hex'));
}

/** Each place where a needle appears, in binary, lowercase or uppercase hex. */
export function findSecrets(dump: StoreDump, needles: readonly Needle[]): { needle: string; where: string }[] {
  const found: { needle: string; where: string }[] = [];
  for (const n of needles) {
    const hex = Buffer.from(n.bytes).toString('hex');
    const forms = [Buffer.from(n.bytes), Buffer.from(hex), Buffer.from(hex.toUpperCase())];
    for (const [where, blob] of dump.blobs) {
      const b = Buffer.from(blob);
      if (forms.some((f) => b.includes(f))) found.push({ needle: n.label, where });
    }
  }
  return found;
}
