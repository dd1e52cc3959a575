// Draws the PNG icons of the web app manifest from their SVG sources in
// web/static, with the headless Chromium of the end-to-end tests. The PNGs
// are committed; run this again after changing an icon's SVG:
//   node web/e2e/make-icons.mjs

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { launchBrowser, repo } from './harness.mjs';

const icons = [
  ['icon.svg', 'icon-192.png', 192],
  ['icon.svg', 'icon-512.png', 512],
  ['icon-maskable.svg', 'icon-maskable-512.png', 512],
];

const browser = await launchBrowser();
try {
  for (const [svg, png, size] of icons) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    const src = `data:image/svg+xml;base64,${readFileSync(path.join(repo, 'web', 'static', svg)).toString('base64')}`;
    await page.setContent(`<style>html,body{margin:0;background:transparent}</style><img src="${src}" width="${size}" height="${size}">`);
    await page.locator('img').evaluate((img) => img.decode());
    await page.screenshot({ path: path.join(repo, 'web', 'static', png), omitBackground: true });
    await page.close();
  }
} finally {
  await browser.close();
}
