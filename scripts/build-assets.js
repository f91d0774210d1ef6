#!/usr/bin/env node
// Part of `npm run build`: copies the browser assets the gateway serves next to the compiled
// code, so the image and `npm run start:prod` need no CDN (ReDoc at /redoc).
'use strict';

const { copyFileSync, mkdirSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const assets = path.join(root, 'dist', 'assets');
mkdirSync(assets, { recursive: true });
copyFileSync(
  require.resolve('redoc/bundles/redoc.standalone.js', { paths: [root] }),
  path.join(assets, 'redoc.standalone.js'),
);
