// The environment-variable reference, read from the config schemas themselves (each variable's
// `.describe()`, default and constraints), so `.env.example` and docs/configuration.md cannot
// drift from what the processes validate.
import type { z } from 'zod';

/** The variables one process (or part of one) reads. */
export interface ConfigScope {
  id: string;
  title: string;
  /** One paragraph on who reads these, for the reference. */
  summary: string;
  shape: z.ZodRawShape;
  /** Validate `env` for this scope (its loaders, with their cross-variable rules); loadConfig(shape) when absent. */
  checks?: ((env: NodeJS.ProcessEnv) => unknown)[];
  /** A scope every process of a kind reads (shared settings), rather than one context's own. */
  general?: boolean;
}

/** What one scope says about a variable. */
export interface VariableFacts {
  description: string | undefined;
  /** The default as it would be written in the environment; undefined when there is none. */
  default: string | undefined;
  required: boolean;
  /** The accepted values, in words: "integer 10 or more", "one of a, b". */
  accepts: string | undefined;
}

export interface VariableEntry extends Omit<VariableFacts, 'default'> {
  /** The scopes that say this, each with its own default. */
  scopes: { id: string; default: string | undefined }[];
}

export interface ReferenceVariable {
  name: string;
  entries: VariableEntry[];
}

export interface ReferenceSection {
  id: string;
  title: string;
  summary: string;
  variables: ReferenceVariable[];
}

/** The id of the section of variables several contexts read, each with its own meaning. */
export const SHARED_SECTION = 'shared';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnySchema = any;

/** What the schema of one variable accepts and defaults to. */
export function variableFacts(schema: z.ZodType): VariableFacts {
  const parsed = schema.safeParse(undefined);
  return {
    description: schema.description,
    default: parsed.success ? formatValue(parsed.data) : undefined,
    required: !parsed.success,
    accepts: describeAccepted(schema as AnySchema),
  };
}

function formatValue(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',');
  return String(value);
}

/** Words for the innermost type: pipes (preprocess, transform), defaults and optionals unwrapped. */
function describeAccepted(schema: AnySchema): string | undefined {
  let current = schema;
  for (let depth = 0; depth < 10 && current; depth++) {
    const def = current._zod.def;
    switch (def.type) {
      case 'pipe':
        // A transform's output says nothing: what is accepted is its input.
        current = def.out._zod.def.type === 'transform' ? def.in : def.out;
        continue;
      case 'default':
      case 'optional':
      case 'nullable':
        current = def.innerType;
        continue;
      case 'enum': {
        const options = current.options as string[];
        if (options.length === 6 && ['true', 'false', '1', '0', 'yes', 'no'].every((o) => options.includes(o))) return 'true or false (also 1/0, yes/no)';
        return `one of ${options.join(', ')}`;
      }
      case 'number': {
        const bounded = (n: unknown) => (typeof n === 'number' && Math.abs(n) < Number.MAX_SAFE_INTEGER ? n : undefined);
        const min = bounded(current.minValue);
        const max = bounded(current.maxValue);
        const kind = current.isInt ? 'integer' : 'number';
        if (min !== undefined && max !== undefined && !(min === 0 && max === 65535)) return `${kind} ${min} to ${max}`;
        if (min === 0 && max === 65535) return 'port (0 to 65535)';
        if (min !== undefined) return `${kind} ${min} or more`;
        return kind;
      }
      case 'string':
        if (def.format === 'url') return 'URL';
        return undefined;
      case 'array':
        return 'comma-separated list';
      default:
        return undefined;
    }
  }
  return undefined;
}

/**
 * The reference: each variable once, in the section of the first scope that declares it, or in
 * the shared section when only several contexts' own scopes declare it. A variable several
 * scopes describe differently gets one entry per description.
 */
export function configReference(scopes: ConfigScope[]): ReferenceSection[] {
  const declarations = new Map<string, { scope: ConfigScope; facts: VariableFacts }[]>();
  for (const scope of scopes) {
    for (const [name, schema] of Object.entries(scope.shape)) {
      const list = declarations.get(name) ?? [];
      list.push({ scope, facts: variableFacts(schema as z.ZodType) });
      declarations.set(name, list);
    }
  }
  const sections: ReferenceSection[] = scopes.map((s) => ({ id: s.id, title: s.title, summary: s.summary, variables: [] }));
  const shared: ReferenceSection = {
    id: SHARED_SECTION,
    title: 'Read by several contexts',
    summary: 'Variables more than one process reads, each for its own purpose; set them once and every process that reads them uses the same value.',
    variables: [],
  };
  for (const [name, declared] of declarations) {
    const entries: VariableEntry[] = [];
    for (const { scope, facts } of declared) {
      const same = entries.find((e) => e.description === facts.description && e.required === facts.required && e.accepts === facts.accepts);
      if (same) same.scopes.push({ id: scope.id, default: facts.default });
      else
        entries.push({ description: facts.description, required: facts.required, accepts: facts.accepts, scopes: [{ id: scope.id, default: facts.default }] });
    }
    const home = declared.length === 1 ? declared[0]!.scope : declared.find((d) => d.scope.general)?.scope;
    const section = home ? sections.find((s) => s.id === home.id)! : shared;
    section.variables.push({ name, entries });
  }
  const firstContext = scopes.findIndex((s) => !s.general);
  const ordered = firstContext < 0 ? [...sections, shared] : [...sections.slice(0, firstContext), shared, ...sections.slice(firstContext)];
  return ordered.filter((s) => s.variables.length > 0);
}

/** The variables that have no description in some scope (the reference must say what each is). */
export function undescribedVariables(scopes: ConfigScope[]): string[] {
  return scopes.flatMap((scope) =>
    Object.entries(scope.shape)
      .filter(([, schema]) => !(schema as z.ZodType).description)
      .map(([name]) => `${scope.id}: ${name}`),
  );
}

function defaultText(entry: VariableEntry, titles: Map<string, string>): string | undefined {
  const defaults = new Set(entry.scopes.map((s) => s.default));
  if (defaults.size === 1) return entry.scopes[0]!.default;
  return entry.scopes.map((s) => `${titles.get(s.id) ?? s.id} ${s.default ?? '(unset)'}`).join(', ');
}

function scopeNames(entry: VariableEntry, titles: Map<string, string>): string {
  return entry.scopes.map((s) => titles.get(s.id) ?? s.id).join(', ');
}

/** Short names of the scopes, for "read by" notes. */
function shortTitles(scopes: ConfigScope[]): Map<string, string> {
  return new Map(scopes.map((s) => [s.id, s.id]));
}

function wrap(text: string, width: number, prefix: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && prefix.length + line.length + 1 + word.length > width) {
      lines.push(prefix + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(prefix + line);
  return lines;
}

/** The one default every entry of `variable` has, if they agree. */
function commonDefault(variable: ReferenceVariable): string | undefined {
  const defaults = new Set(variable.entries.flatMap((e) => e.scopes.map((s) => s.default)));
  return defaults.size === 1 ? [...defaults][0] : undefined;
}

/** `.env.example`: every variable commented out at its default, with what it is above it. */
export function renderEnvExample(scopes: ConfigScope[], header: string[]): string {
  const titles = shortTitles(scopes);
  const out: string[] = header.map((l) => (l ? `# ${l}` : '#'));
  for (const section of configReference(scopes)) {
    out.push('', `# ${'='.repeat(94)}`, `# ${section.title}`, ...wrap(section.summary, 96, '# '), `# ${'='.repeat(94)}`);
    for (const variable of section.variables) {
      out.push('');
      const several = variable.entries.length > 1 || section.id === SHARED_SECTION;
      const common = commonDefault(variable);
      for (const entry of variable.entries) {
        const lead = several ? `[${scopeNames(entry, titles)}] ` : '';
        out.push(...wrap(`${lead}${entry.description ?? ''}`, 96, '# '));
        const byDefault = common === undefined ? defaultText(entry, titles) : undefined;
        const facts = [
          entry.accepts ? `Accepts: ${entry.accepts}.` : '',
          entry.required ? 'Required.' : '',
          byDefault !== undefined ? `Default: ${byDefault}.` : '',
        ];
        const line = facts.filter(Boolean).join(' ');
        if (line) out.push(...wrap(line, 96, '# '));
      }
      out.push(`# ${variable.name}=${common ?? ''}`);
    }
  }
  return `${out.join('\n')}\n`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (text: string) => (text.includes('`') ? text : `\`${text}\``);

/** The Markdown reference: one table per section. */
export function renderConfigMarkdown(scopes: ConfigScope[], intro: string[]): string {
  const titles = shortTitles(scopes);
  const out: string[] = [...intro];
  for (const section of configReference(scopes)) {
    out.push('', `## ${section.title}`, '', section.summary, '', '| variable | default | accepts | meaning |', '| --- | --- | --- | --- |');
    for (const variable of section.variables) {
      const several = variable.entries.length > 1 || section.id === SHARED_SECTION;
      const rows = variable.entries.map((entry) => {
        const byDefault = defaultText(entry, titles);
        const shownDefault = entry.required ? 'required' : byDefault === undefined ? 'unset' : byDefault.includes(' ') ? byDefault : code(byDefault);
        const lead = several ? `**${scopeNames(entry, titles)}**: ` : '';
        return { shownDefault, accepts: entry.accepts ?? '', meaning: `${lead}${entry.description ?? ''}` };
      });
      const joined = (pick: (r: (typeof rows)[number]) => string) => {
        const values = rows.map(pick);
        return new Set(values).size === 1 ? values[0]! : values.join('<br>');
      };
      out.push(
        `| \`${variable.name}\` | ${cell(joined((r) => r.shownDefault))} | ${cell(joined((r) => r.accepts))} | ${cell(rows.map((r) => r.meaning).join('<br>'))} |`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}
