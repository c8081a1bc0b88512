// Issue 13: "Reference resolvers are built through one platform helper". eslint.config.js's
// references/reference-through-helper refuses a `__resolveReference` written by hand in any
// subgraphs/*/src (a new subgraph's too); this checks that the rule catches each way of writing
// one, lets the helpers through, and that every subgraph's sources pass it today.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const RULE = 'references/reference-through-helper';
const eslint = new ESLint({ cwd: root, ruleFilter: ({ ruleId }) => ruleId === RULE });

/** The rule's findings on `code` as if it were `path`: the lines it reports. */
async function findings(code: string, path: string): Promise<number[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  const fatal = result!.messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(fatal.map((m) => m.message).join('\n'));
  return result!.messages.filter((m) => m.ruleId === RULE).map((m) => m.line);
}

const header = `import { keyOnlyReference, referenceById, idOrNull } from '@vibestream/platform';\nconst load = async (id: string) => ({ id });\n`;

describe('references/reference-through-helper', () => {
  it.each([
    ['an async arrow', `export const r = { Event: { __resolveReference: async (ref: { id: string }) => load(ref.id) } };`],
    ['an arrow', `export const r = { Event: { __resolveReference: (ref: { id: string }) => (idOrNull(ref.id) ? load(ref.id) : null) } };`],
    ['a function expression', `export const r = { Event: { __resolveReference: function (ref: { id: string }) { return load(ref.id); } } };`],
    ['a method', `export const r = { Event: { async __resolveReference(ref: { id: string }) { return load(ref.id); } } };`],
    ['a quoted key', `export const r = { Event: { '__resolveReference': (ref: { id: string }) => load(ref.id) } };`],
    ['a named function', `function byHand(ref: { id: string }) { return load(ref.id); }\nexport const r = { Event: { __resolveReference: byHand } };`],
    [
      'an assignment',
      `export const r: Record<string, Record<string, unknown>> = { Event: {} };\nr.Event!.__resolveReference = (ref: { id: string }) => load(ref.id);`,
    ],
    ['a class field', `export class Event { __resolveReference = (ref: { id: string }) => load(ref.id); }`],
  ])('refuses one written by hand, as %s, in a subgraph that does not exist yet', async (_kind, code) => {
    expect(await findings(header + code, 'subgraphs/newcontext/src/resolvers.ts')).toHaveLength(1);
  });

  it('lets referenceById and keyOnlyReference through', async () => {
    const code = `export const r = {
  Event: { __resolveReference: referenceById((id: string) => load(id)) },
  User: { __resolveReference: keyOnlyReference },
};
const { __resolveReference } = r.Event;
export { __resolveReference };`;
    expect(await findings(header + code, 'subgraphs/newcontext/src/resolvers.ts')).toEqual([]);
  });

  it('passes on every subgraph source that names __resolveReference', async () => {
    const subgraphs = join(root, 'subgraphs');
    const files = readdirSync(subgraphs, { recursive: true, encoding: 'utf8' })
      .filter((file) => /^[^/]+\/src\/(?!generated\/).*\.tsx?$/.test(file))
      .map((file) => join(subgraphs, file))
      .filter((file) => readFileSync(file, 'utf8').includes('__resolveReference'));
    const contexts = new Set(files.map((file) => relative(subgraphs, file).split('/')[0]));
    // Every context resolves some entity; loyalty's Event, TicketType and Ticket were written by hand.
    expect([...contexts].sort()).toEqual(expect.arrayContaining(['campaigns', 'catalog', 'identity', 'loyalty', 'ownership', 'payments', 'rewards']));
    const results = await eslint.lintFiles(files);
    const found = results.flatMap((r) =>
      r.messages.filter((m) => m.ruleId === RULE || m.fatal).map((m) => `${relative(root, r.filePath)}:${m.line} ${m.message}`),
    );
    expect(found).toEqual([]);
  });
});
