#!/usr/bin/env bash
# BNN Lab's real-VS-Code host for test/e2e/vscode.e2e.ts: installs code-server (VS Code's server
# and its web client) from the npm registry alone, with Debian packages for what it cannot get
# there. Prints the path of the code-server launcher as its last line of stdout; everything else
# goes to stderr. A finished install (marked by .ready) is reused, so later runs take a second.
#
#   tools/vscode-e2e/setup-code-server.sh [INSTALL_DIR]
#
# INSTALL_DIR defaults to $XDG_CACHE_HOME/vscode-e2e/code-server-$VERSION (~/.cache/...).
# CODE_SERVER_VERSION overrides the version.
#
# Why not `npm install -g code-server`: its postinstall fetches ripgrep from GitHub and builds
# argon2 from a git submodule the npm tarball does not contain, both impossible offline. Here the
# install scripts are skipped and their work is done by hand: Debian's rg stands in for the
# downloaded one, VS Code's native modules are built against the local Node headers, and argon2
# (password hashing, unused because the e2e server runs with `--auth none`) gets a stub that
# throws if it is ever called.
set -euo pipefail

# 4.100.x is the last code-server line whose server runs on Node 20 (the project's engines.node).
VERSION="${CODE_SERVER_VERSION:-4.100.3}"
DIR="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/vscode-e2e/code-server-$VERSION}"
BIN="$DIR/node_modules/.bin/code-server"
log() { echo "setup-code-server: $*" >&2; }
die() { log "$*"; exit 1; }

if [ -f "$DIR/.ready" ] && [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

command -v node >/dev/null || die "node is not on PATH: install Node 20 first"
command -v npm >/dev/null || die "npm is not on PATH: install Node 20 (with npm) first"

# Debian packages: rg for VS Code's search, Chromium to drive the web client, the Kerberos
# headers a VS Code native module (kerberos) compiles against, a C compiler for node-gyp.
pkgs=()
command -v rg >/dev/null || pkgs+=(ripgrep)
command -v chromium >/dev/null || pkgs+=(chromium)
[ -f /usr/include/gssapi/gssapi.h ] || pkgs+=(libkrb5-dev)
command -v g++ >/dev/null || pkgs+=(g++)
command -v make >/dev/null || pkgs+=(make)
command -v python3 >/dev/null || pkgs+=(python3)
if [ ${#pkgs[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${pkgs[*]} and no apt-get to install them: install them first"
  log "installing Debian packages: ${pkgs[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  { "${sudo[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >&2 ||
    die "apt-get install ${pkgs[*]} failed (see above)"
fi

# node-gyp ships inside npm; builds use the headers of the running Node (no header download).
npm_root="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
GYP="$npm_root/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$GYP" ] || GYP="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$GYP" ] || die "node-gyp not found next to npm ($GYP)"
NODEDIR="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
[ -f "$NODEDIR/include/node/node_api.h" ] || NODEDIR=/usr
[ -f "$NODEDIR/include/node/node_api.h" ] || die "Node headers (include/node/node_api.h) not found"

mkdir -p "$DIR"
cd "$DIR"
rm -f .ready
[ -f package.json ] || echo '{ "name": "bnn-lab-vscode-e2e-host", "private": true }' >package.json
log "installing code-server@$VERSION into $DIR"
npm install --no-audit --no-fund --ignore-scripts --save-exact "code-server@$VERSION" >&2

vscode="$DIR/node_modules/code-server/lib/vscode"
[ -d "$vscode" ] || die "code-server@$VERSION has no lib/vscode: not a release this script knows"
cd "$vscode"
log "installing VS Code's server dependencies"
npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg

# Native modules (node-pty, spdlog, watcher, kerberos, ...): top-level ones only; the platform
# variants for Windows and macOS are skipped.
while IFS= read -r gyp; do
  mod="$(dirname "$gyp")"
  case "$mod" in *windows* | *macos* | *darwin*) continue ;; esac
  [ -d "$mod/build/Release" ] && continue
  log "building $mod"
  (cd "$mod" && node "$GYP" rebuild --nodedir="$NODEDIR" >"$DIR/build.log" 2>&1) ||
    { tail -20 "$DIR/build.log" >&2; die "failed to build $mod (full log: $DIR/build.log)"; }
done < <(find node_modules -name binding.gyp -not -path '*/node_modules/*/node_modules/*' | sort)

# What code-server's postinstall would have linked: the asar path the server resolves modules
# through, the remote CLI and the browser helper.
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sf code-linux.sh code-server)
(cd bin/helpers && ln -sf browser-linux.sh browser.sh)
log "installing the built-in extensions' dependencies"
(cd extensions && npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2)

argon2="$DIR/node_modules/argon2"
if [ -d "$argon2" ]; then
  target="$(cd "$argon2" && node -e 'console.log(require("@mapbox/node-pre-gyp").find(require("path").resolve("package.json")))')"
  mkdir -p "$(dirname "$target")"
  cat >"$DIR/argon2-stub.c" <<'C'
/* Stands in for argon2's native binding: password auth is off in the e2e host (--auth none). */
#include <node_api.h>
static napi_value Refuse(napi_env env, napi_callback_info info) {
  (void)info;
  napi_throw_error(env, NULL, "argon2 is not available in the BNN Lab e2e host (run with --auth none)");
  return NULL;
}
static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "hash", NAPI_AUTO_LENGTH, Refuse, NULL, &fn);
  napi_set_named_property(env, exports, "hash", fn);
  return exports;
}
NAPI_MODULE(argon2, Init)
C
  cc -shared -fPIC -I"$NODEDIR/include/node" "$DIR/argon2-stub.c" -o "$target" ||
    die "failed to compile the argon2 stub"
fi

[ -x "$BIN" ] || die "the install finished but $BIN is missing"
touch "$DIR/.ready"
echo "$BIN"
