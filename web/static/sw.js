// @ts-nocheck
// The service worker: keeps the app shell (the page, its modules, style
// and icons) so that parley opens, and says it is offline, without a
// network. Nothing else goes through it: media, clips, API answers, the
// websocket and WHIP are never read from or written to its cache.
//
// Network first: online, every shell file comes from the server (a new
// server version is used at once) and the copy is refreshed; only when the
// server cannot be reached is the copy served.
//
// SHELL lists every file of web/static but this one: the server's tests
// check it against the embedded files, so a new module cannot be
// forgotten here.

const CACHE = 'parley-shell-v1';

const SHELL = [
  '/',
  '/alerts.js',
  '/app.js',
  '/bubble.js',
  '/check.css',
  '/check.html',
  '/check.js',
  '/dom.js',
  '/favicon.svg',
  '/help.js',
  '/icon-192.png',
  '/icon-512.png',
  '/icon-maskable-512.png',
  '/icon-maskable.svg',
  '/icon.svg',
  '/i18n.js',
  '/input.js',
  '/lang-en.js',
  '/lang-ru.js',
  '/live.css',
  '/live.js',
  '/manifest.webmanifest',
  '/media.js',
  '/phone.js',
  '/player.js',
  '/prejoin.js',
  '/recorder.js',
  '/report.js',
  '/signal.js',
  '/station.js',
  '/style.css',
  '/timeline.js',
  '/upload.js',
  '/usage.js',
  '/waveform.js',
];

/** Whether a request is for the app shell (the page with any query, or one of its files). */
function isShell(request) {
  if (request.method !== 'GET') return false;
  const url = new URL(request.url);
  return url.origin === self.location.origin && SHELL.includes(url.pathname);
}

/** What never comes near the worker: the API (clips' media among it), WHIP and WHEP. */
const PAST = ['/api/*', '/whip/*', '/whep/*'];

self.addEventListener('install', (event) => {
  // Where the browser can route requests itself (Chrome's static
  // routing), the API goes straight to the network: a clip's media, read
  // in ranges as it plays, never waits for the worker to wake up.
  if (event.addRoutes) {
    try {
      event.addRoutes(PAST.map((pathname) => ({ condition: { urlPattern: new URLPattern({ pathname }) }, source: 'network' })));
    } catch {
      // routes are an optimisation: the fetch handler lets these pass anyway
    }
  }
  // The first copy of the shell; a file that fails leaves the install to
  // the next load (addAll is all or nothing).
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(SHELL.map((p) => new Request(p, { cache: 'no-store' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (!isShell(req)) return; // the browser fetches it as if there were no worker
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      // The page is kept as "/", whatever room its query names.
      const key = new URL(req.url).pathname;
      try {
        const res = await fetch(req);
        if (res.ok && res.type === 'basic') await cache.put(key, res.clone());
        return res;
      } catch (e) {
        const copy = await cache.match(key);
        if (copy) return copy;
        throw e;
      }
    })(),
  );
});

// A notification the page made through the worker (where the browser
// allows no other kind): its click brings the app forward and tells the
// page which item to show.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const win = wins.find((c) => new URL(c.url).pathname === '/');
      if (!win) return self.clients.openWindow('/');
      win.postMessage({ type: 'notification-click', kind: event.notification.data?.kind });
      await win.focus();
    })(),
  );
});
