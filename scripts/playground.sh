#!/usr/bin/env bash
# Bundle the playground's code editor (CodeMirror 6, from the npm registry)
# into internal/api/playground/editor.js, with the licences of everything
# in the bundle in internal/api/playground/LICENSES.txt. The versions are
# pinned by internal/api/playground/vendor/package-lock.json; the bundle is
# committed, so building codeexec needs neither npm nor this script: run it
# only to change the editor.
#
# Usage: scripts/playground.sh
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
PG="${SCRIPT_DIR}/../internal/api/playground"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

cp "${PG}/vendor/package.json" "${PG}/vendor/package-lock.json" "${PG}/vendor/entry.js" "${work}/"
cd "${work}"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
node_modules/.bin/esbuild entry.js --bundle --minify --format=esm --legal-comments=none \
	--metafile=meta.json --outfile="${PG}/editor.js" --log-level=warning

# The licence of every package whose code is in the bundle.
node -e '
const fs = require("fs"), path = require("path");
const meta = JSON.parse(fs.readFileSync("meta.json", "utf8"));
const pkgs = new Set();
for (const f of Object.keys(meta.inputs)) {
  const m = f.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) pkgs.add(m[1]);
}
let out = "Licences of the packages bundled into editor.js (scripts/playground.sh).\n";
for (const p of [...pkgs].sort()) {
  const dir = path.join("node_modules", p);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const lic = fs.readdirSync(dir).find((n) => /^licen[cs]e/i.test(n));
  out += "\n==== " + p + " " + pj.version + " (" + pj.license + ")\n\n";
  out += lic ? fs.readFileSync(path.join(dir, lic), "utf8") : "(no licence file; package.json says " + pj.license + ")\n";
}
fs.writeFileSync(process.argv[1], out);
' "${PG}/LICENSES.txt"
echo "playground.sh: wrote ${PG}/editor.js ($(wc -c <"${PG}/editor.js") bytes) and LICENSES.txt"
