// VibeStream's service worker, served at /sw.js (scope /): shows a Web Push notification and opens
// the app at its link when clicked. The browser has decrypted the
// message (RFC 8291) before `push` fires: its payload is JSON { title, body, url, tag, kind }.
/* global self, URL */

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

/** A path of this app (same origin); anything else opens the app's notifications page. */
function appUrl(url) {
  try {
    const resolved = new URL(typeof url === 'string' ? url : '/notifications', self.location.origin);
    return resolved.origin === self.location.origin ? resolved.href : new URL('/notifications', self.location.origin).href;
  } catch {
    return new URL('/notifications', self.location.origin).href;
  }
}

function messageOf(event) {
  if (!event.data) return {};
  try {
    const data = event.data.json();
    return data && typeof data === 'object' ? data : {};
  } catch {
    return { body: event.data.text() };
  }
}

self.addEventListener('push', (event) => {
  const message = messageOf(event);
  const title = typeof message.title === 'string' && message.title ? message.title : 'VibeStream';
  const options = {
    body: typeof message.body === 'string' ? message.body : '',
    data: { url: appUrl(message.url) },
  };
  // The notification's id as tag: a second delivery of the same notification replaces the first.
  if (typeof message.tag === 'string' && message.tag) options.tag = message.tag;
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = appUrl(event.notification.data && event.notification.data.url);
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const client of windows) {
        if (new URL(client.url).origin !== self.location.origin) continue;
        // An open tab of the app goes to the link and comes forward.
        if ('navigate' in client) await client.navigate(url).catch(() => undefined);
        if ('focus' in client) return client.focus();
      }
      return self.clients.openWindow(url);
    })(),
  );
});
