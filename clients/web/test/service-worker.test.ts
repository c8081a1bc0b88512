// The Web Push service worker (public/sw.js) run in a VM context with the ServiceWorkerGlobalScope
// parts it uses: what a push shows, and where a click goes (only ever into the app's own origin).
import { readFile } from 'node:fs/promises';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';

const ORIGIN = 'https://app.vibestream.test';
let source: string;

beforeAll(async () => {
  source = await readFile(new URL('../public/sw.js', import.meta.url), 'utf8');
});

interface Shown {
  title: string;
  options: { body: string; tag?: string; data: { url: string } };
}

function worker(windows: { url: string; navigated?: string; focused?: boolean }[] = []) {
  const listeners = new Map<string, (event: unknown) => void>();
  const shown: Shown[] = [];
  const opened: string[] = [];
  const self = {
    location: { origin: ORIGIN },
    addEventListener: (type: string, listener: (event: unknown) => void) => listeners.set(type, listener),
    skipWaiting: () => undefined,
    registration: {
      showNotification: async (title: string, options: Shown['options']) => {
        shown.push({ title, options });
      },
    },
    clients: {
      claim: async () => undefined,
      matchAll: async () =>
        windows.map((w) => ({
          url: w.url,
          navigate: async (url: string) => {
            w.navigated = url;
          },
          focus: async () => {
            w.focused = true;
          },
        })),
      openWindow: async (url: string) => {
        opened.push(url);
      },
    },
  };
  runInNewContext(source, { self, URL });
  const waited: Promise<unknown>[] = [];
  const dispatch = async (type: string, event: Record<string, unknown>) => {
    listeners.get(type)!({ ...event, waitUntil: (p: Promise<unknown>) => waited.push(p) });
    await Promise.all(waited);
  };
  const push = (data: unknown) =>
    dispatch('push', {
      data:
        data === null
          ? null
          : {
              json: () => (typeof data === 'string' ? JSON.parse(data) : data),
              text: () => (typeof data === 'string' ? data : JSON.stringify(data)),
            },
    });
  const click = (url: unknown) => {
    let closed = false;
    return dispatch('notificationclick', { notification: { data: { url }, close: () => (closed = true) } }).then(() => closed);
  };
  return { shown, opened, push, click };
}

describe('the service worker', () => {
  it("shows a push's title and body, tagged with the notification so a second copy replaces the first", async () => {
    const sw = worker();
    await sw.push({ title: 'Deposit received', body: '$42.00 was added.', url: '/notifications?id=n1', tag: 'n1', kind: 'DEPOSIT_SUCCEEDED' });
    expect(sw.shown).toEqual([
      { title: 'Deposit received', options: { body: '$42.00 was added.', tag: 'n1', data: { url: `${ORIGIN}/notifications?id=n1` } } },
    ]);
  });

  it('still shows something for an empty, non-JSON or odd payload', async () => {
    const sw = worker();
    await sw.push(null);
    await sw.push('not json');
    await sw.push({ title: 42, body: { x: 1 } });
    expect(sw.shown.map((s) => [s.title, s.options.body, s.options.tag])).toEqual([
      ['VibeStream', '', undefined],
      ['VibeStream', 'not json', undefined],
      ['VibeStream', '', undefined],
    ]);
  });

  it("opens the link in a new window, or brings an open tab of the app there; never another origin's page", async () => {
    const sw = worker();
    expect(await sw.click(`${ORIGIN}/notifications?id=n1`)).toBe(true);
    await sw.click('https://evil.example/phish');
    await sw.click('javascript:alert(1)');
    expect(sw.opened).toEqual([`${ORIGIN}/notifications?id=n1`, `${ORIGIN}/notifications`, `${ORIGIN}/notifications`]);

    const tabs = [{ url: 'https://elsewhere.example/' }, { url: `${ORIGIN}/market` }];
    const withTab = worker(tabs);
    await withTab.click(`${ORIGIN}/notifications?id=n2`);
    expect(withTab.opened).toEqual([]);
    expect(tabs[1]).toMatchObject({ navigated: `${ORIGIN}/notifications?id=n2`, focused: true });
    expect(tabs[0]).not.toHaveProperty('focused');
  });
});
