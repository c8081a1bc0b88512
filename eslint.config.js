import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------------
// Package boundaries (issue 15): what each folder may import.
//  - platform/src imports no other @vibestream package (not the gateway, testkit or a context);
//  - a context's src imports no other context: others' events through '@vibestream/contracts/<context>'
//    (a context's own events.ts re-exports its contracts, which other contexts' tests may import);
//  - no src (platform, gateway, subgraphs, circuits, the web app) imports @vibestream/testkit;
//  - no workspace reaches into another package's files by relative path ('../../catalog/src/...').
// test/workspace-deps.test.ts checks the package.json side (every import declared).
// ESLint does not merge no-restricted-imports across config objects (the last match wins), so a
// further restriction for one of these folders goes into its patterns list here.

const root = dirname(fileURLToPath(import.meta.url));
/** The bounded contexts: every subgraphs/<name> with a package.json. */
const contexts = readdirSync(join(root, 'subgraphs')).filter((name) => existsSync(join(root, 'subgraphs', name, 'package.json')));

const noTestkit = {
  regex: '^@vibestream/testkit(/|$)',
  message: 'Runtime code does not import test harnesses: @vibestream/testkit is for tests, scripts and bench.',
};

/** The package folder (nearest package.json) of a file or folder; '' for the root package. */
const ownerCache = new Map();
function packageDirOf(dir) {
  if (ownerCache.has(dir)) return ownerCache.get(dir);
  const owner = existsSync(join(dir, 'package.json')) ? relative(root, dir) : dir === root || dirname(dir) === dir ? '' : packageDirOf(dirname(dir));
  ownerCache.set(dir, owner);
  return owner;
}

/** Relative imports that may cross a package line: the typed documents codegen writes beside the web app. */
const crossingAllowed = (from, target) => from === 'clients/web' && relative(root, target).startsWith('clients/generated/');

const boundaries = {
  rules: {
    'no-relative-import-across-packages': {
      meta: {
        type: 'problem',
        docs: { description: "Another package's files are reached through its package entry (package.json exports), never by relative path" },
        messages: {
          crossing: "'{{specifier}}' is a file of {{to}}: import it through that package's entry (add an export there if it is meant to be shared).",
        },
        schema: [],
      },
      create(context) {
        const from = packageDirOf(dirname(context.filename));
        const check = (node) => {
          const specifier = node?.type === 'Literal' && typeof node.value === 'string' ? node.value : undefined;
          if (!specifier?.startsWith('.')) return;
          const target = resolve(dirname(context.filename), specifier.split('?')[0]);
          const to = packageDirOf(dirname(target));
          if (to !== from && !crossingAllowed(from, target)) context.report({ node, messageId: 'crossing', data: { specifier, to: to || 'the root package' } });
        };
        return {
          ImportDeclaration: (node) => check(node.source),
          ExportNamedDeclaration: (node) => check(node.source),
          ExportAllDeclaration: (node) => check(node.source),
          ImportExpression: (node) => check(node.source),
        };
      },
    },
  },
};

// ---------------------------------------------------------------------------------------------
// Persistence (issue 15, docs/adr/0001-persistence.md): a context's SQL is in its store (store.ts
// or store/), written with the kernel's `sql`, `rows`, `row` and `exec`; no file of a migrated
// context imports a SQL driver or the ORM (pg, kysely, @mikro-orm/*), and no file but its store
// imports the SQL primitive, the ORM's types or the raw-SQL helpers, or calls `.execute(...)`.
// Migrated: persistenceMigrated (every context).
// ownership's placeOrder keeps its plain-pg two-round-trip path (inlineSql) in src/placement.ts, the
// documented exception private to order placement: that file counts as a store.
const persistenceMigrated = ['campaigns', 'catalog', 'identity', 'notifications', 'ownership', 'payments', 'rewards'];
const storeFiles = (name) => [
  `subgraphs/${name}/src/store.ts`,
  `subgraphs/${name}/src/store/**`,
  ...(name === 'ownership' ? ['subgraphs/ownership/src/placement.ts'] : []),
];
const noSqlDriver = {
  regex: '^(pg|pg-[a-z-]+|kysely|@mikro-orm/.+)$',
  message: "A context reaches its tables only through the kernel's persistence primitive, in its store (docs/adr/0001-persistence.md).",
};
const persistenceOutsideStore = (name, patterns) => ({
  files: [`subgraphs/${name}/src/**`],
  ignores: storeFiles(name),
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns,
        paths: [
          {
            name: '@vibestream/platform',
            importNames: ['sql', 'rows', 'row', 'exec', 'EntityManager', 'MikroORM', 'openSqlPool', 'withSqlClient', 'inlineSql'],
            message: 'SQL lives in the store: call its functions (through a use case for writes); record events with tx.outbox.',
          },
        ],
      },
    ],
    'no-restricted-syntax': [
      'error',
      {
        selector: "CallExpression[callee.property.name='execute']",
        message: 'SQL lives in the store (em.execute is the ORM; stores use the kernel primitive).',
      },
      { selector: "CallExpression[callee.property.name='getKysely']", message: 'SQL lives in the store, on the kernel primitive.' },
    ],
  },
});

// ---------------------------------------------------------------------------------------------
// Entity references (issue 13, docs/architecture.md "Ids and entity references"): every
// `__resolveReference` in a subgraph is built with the kernel's `referenceById` (or is
// `keyOnlyReference`), which answers null for a representation whose id is not an id before any
// query and never leaves a failing resolver's promise unobserved. A hand-written one (a function,
// an arrow, a method, or anything else) is refused in every subgraphs/*/src, a new subgraph's too.
const nameOf = (node) =>
  node?.type === 'Identifier'
    ? node.name
    : node?.type === 'Literal'
      ? String(node.value)
      : node?.type === 'MemberExpression' && !node.computed
        ? node.property.name
        : undefined;
/** `keyOnlyReference`, or a call of `referenceById(...)` (either possibly through a namespace). */
const builtByHelper = (value) =>
  ((value?.type === 'Identifier' || value?.type === 'MemberExpression') && nameOf(value) === 'keyOnlyReference') ||
  (value?.type === 'CallExpression' && nameOf(value.callee) === 'referenceById');
const references = {
  rules: {
    'reference-through-helper': {
      meta: {
        type: 'problem',
        docs: { description: "Every __resolveReference is built with the platform's referenceById or is keyOnlyReference (platform/src/references.ts)" },
        messages: {
          byHand:
            "__resolveReference is built with referenceById((id, ctx) => ...) from '@vibestream/platform', or is keyOnlyReference for an entity known only by its key: never written by hand.",
        },
        schema: [],
      },
      create(context) {
        const check = (key, value, node, computed) => {
          if (computed && key?.type !== 'Literal') return;
          if (nameOf(key) === '__resolveReference' && !builtByHelper(value)) context.report({ node, messageId: 'byHand' });
        };
        return {
          Property: (node) => node.parent.type !== 'ObjectPattern' && check(node.key, node.value, node, node.computed),
          PropertyDefinition: (node) => check(node.key, node.value, node, node.computed),
          MethodDefinition: (node) => check(node.key, node.value, node, node.computed),
          AssignmentExpression: (node) => {
            if (node.left.type === 'MemberExpression') check(node.left.property, node.right, node, node.left.computed);
          },
        };
      },
    },
  },
};
const referenceConfigs = [
  {
    files: ['subgraphs/*/src/**/*.{js,mjs,ts,tsx}'],
    plugins: { references },
    rules: { 'references/reference-through-helper': 'error' },
  },
];

const boundaryConfigs = [
  {
    // Every file: a workspace's, and the root package's tests, scripts and bench.
    files: ['**/*.{js,mjs,ts,tsx}'],
    plugins: { boundaries },
    rules: { 'boundaries/no-relative-import-across-packages': 'error' },
  },
  {
    // The kernel imports nothing above it.
    files: ['platform/src/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^@vibestream/(?!platform$)', message: 'platform is the kernel: it may not import the gateway, testkit, circuits or any context.' },
          ],
        },
      ],
    },
  },
  ...contexts.flatMap((name) => {
    const patterns = [
      noTestkit,
      { regex: '^@vibestream/gateway(/|$)', message: 'A subgraph does not import the gateway.' },
      {
        regex: `^@vibestream/(?!platform$|contracts(/|$)|circuits$|testkit(/|$)|gateway(/|$)|${name}(/|$))`,
        message: "A context imports no other context: another context's events are typed by their contracts, '@vibestream/contracts/<context>'.",
      },
      ...(persistenceMigrated.includes(name) ? [noSqlDriver] : []),
    ];
    return [
      {
        // A context reaches another only through its published event contracts (its `events` entry).
        files: [`subgraphs/${name}/src/**`],
        rules: { 'no-restricted-imports': ['error', { patterns }] },
      },
      ...(persistenceMigrated.includes(name) ? [persistenceOutsideStore(name, patterns)] : []),
    ];
  }),
  {
    files: ['gateway/src/**', 'circuits/index.ts', 'contracts/src/**', 'clients/web/src/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [noTestkit] }] },
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.data/**',
      '**/generated/**',
      'clients/generated/**',
      'circuits/build/**',
      'clients/web/dist/**',
      'clients/web/test-results/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  ...boundaryConfigs,
  ...referenceConfigs,
);
