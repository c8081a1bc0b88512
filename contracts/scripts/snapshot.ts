// Writes the frozen JSON Schema of each event contract version that has none yet:
//   npm run snapshot -w contracts            (or: node contracts/scripts/snapshot.ts)
// It never rewrites a snapshot: a published version whose payload changed is refused, with the
// fix (define the next version beside it). `--check` writes nothing and fails on anything missing.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { EventContract } from '@vibestream/platform';
import { allContracts } from '../src/index.ts';

export const SNAPSHOT_DIR = fileURLToPath(new URL('../snapshots/', import.meta.url));

export interface Snapshot {
  type: string;
  producer: string;
  /** The payload's JSON Schema (draft 2020-12) as a consumer validates it (zod's input side). */
  schema: unknown;
}

/**
 * The payload's JSON Schema. Where a string has a `format` (uuid, date-time, email...), zod's own
 * regex for it is dropped: the format names the rule, and the regex text is zod's, not ours.
 */
export function jsonSchemaOf(contract: EventContract): unknown {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (typeof node !== 'object' || node === null) return node;
    const entries = Object.entries(node).filter(([key]) => !(key === 'pattern' && 'format' in node));
    return Object.fromEntries(entries.map(([key, value]) => [key, strip(value)]));
  };
  return strip(z.toJSONSchema(contract.payload, { io: 'input' }));
}

export const snapshotPath = (type: string) => join(SNAPSHOT_DIR, `${type}.json`);
export const serialise = (snapshot: Snapshot) => `${JSON.stringify(snapshot, null, 2)}\n`;

export function snapshotOf(producer: string, contract: EventContract): Snapshot {
  return { type: contract.type, producer, schema: jsonSchemaOf(contract) };
}

export function readSnapshots(): Map<string, string> {
  const files = existsSync(SNAPSHOT_DIR) ? readdirSync(SNAPSHOT_DIR).filter((name) => name.endsWith('.json')) : [];
  return new Map(files.map((name) => [name.slice(0, -'.json'.length), readFileSync(join(SNAPSHOT_DIR, name), 'utf8')]));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  const existing = readSnapshots();
  let failed = false;
  for (const { producer, contract } of allContracts()) {
    const text = serialise(snapshotOf(producer, contract));
    const frozen = existing.get(contract.type);
    if (frozen === text) continue;
    if (frozen !== undefined) {
      failed = true;
      console.error(
        `${contract.type} is published and its payload changed: keep it as it was and define the change as the next version (a new type name) beside it.`,
      );
    } else if (check) {
      failed = true;
      console.error(`${contract.type} has no snapshot: run npm run snapshot -w contracts`);
    } else {
      writeFileSync(snapshotPath(contract.type), text);
      console.log(`wrote snapshots/${contract.type}.json`);
    }
  }
  if (failed) process.exitCode = 1;
}
