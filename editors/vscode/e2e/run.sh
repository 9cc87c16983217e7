#!/bin/bash
# End-to-end test of the packaged extension in a real VS Code (code-server) with headless
# Chromium, against the real `fireside lsp`, a fresh daemon and the embedded model.
#
#   CODE_SERVER=.../node_modules/.bin/code-server PLAYWRIGHT=dir-with-node_modules/playwright-core \
#   FIRESIDE=.../.venv/bin/fireside editors/vscode/e2e/run.sh
#
# Setup once (Debian): apt-get install -y chromium ripgrep libkrb5-dev; install code-server
# 4.100.3 without its download scripts (../shared/editor-e2e/vscode/install-code-server.sh DIR);
# npm install playwright-core in some directory. Screenshots and logs stay in the printed folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
extension=$(dirname "$here")
: "${CODE_SERVER:?path to code-server}" "${PLAYWRIGHT:?directory holding node_modules/playwright-core}" "${FIRESIDE:?path to the fireside executable}"
PORT=${PORT:-8765}
DAEMON_PORT=${DAEMON_PORT:-11499}
R=$(mktemp -d -t fireside-vscode-e2e-XXXX)
mkdir -p "$R/data/User" "$R/ext" "$R/ws" "$R/fireside"
export XDG_CONFIG_HOME=$R/xdg/config XDG_DATA_HOME=$R/xdg/data XDG_CACHE_HOME=$R/xdg/cache XDG_STATE_HOME=$R/xdg/state
printf 'def average(values):\n    return sum(values) / len(values)\n\n\nnumbers = [3, 1, 4, 1, 5]\n' > "$R/ws/hello.py"
cat > "$R/data/User/settings.json" <<JSON
{ "workbench.startupEditor": "none", "workbench.tips.enabled": false,
  "security.workspace.trust.enabled": false, "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false, "update.mode": "none", "telemetry.telemetryLevel": "off",
  "editor.inlineSuggest.enabled": true,
  "editor.quickSuggestions": {"other": false, "comments": false, "strings": false},
  "fireside.server.path": "$FIRESIDE", "fireside.server.args": ["--log-level", "debug", "--log-file", "$R/lsp.log"],
  "fireside.daemon.host": "127.0.0.1:$DAEMON_PORT", "fireside.daemon.start": false,
  "fireside.models.chat": "${CHAT_MODEL:-qwen2.5-coder:0.5b}" }
JSON
(cd "$extension" && npm run package >/dev/null)
FIRESIDE_HOST=127.0.0.1:$DAEMON_PORT FIRESIDE_CACHE_DIR=$R/fireside FIRESIDE_STATE_DIR=$R/fireside "$FIRESIDE" serve >"$R/daemon.log" 2>&1 &
DAEMON=$!
COMMON="--config $R/config.yaml --user-data-dir $R/data --extensions-dir $R/ext"
"$CODE_SERVER" $COMMON --install-extension "$extension/fireside.vsix" >"$R/install-ext.log" 2>&1 || { cat "$R/install-ext.log"; exit 1; }
"$CODE_SERVER" $COMMON --bind-addr 127.0.0.1:$PORT --auth none --disable-telemetry --disable-update-check \
  --disable-workspace-trust "$R/ws" >"$R/code-server.log" 2>&1 </dev/null &
CS=$!
trap 'kill $CS $DAEMON 2>/dev/null; wait $CS $DAEMON 2>/dev/null' EXIT
for _ in $(seq 1 200); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && curl -sf -o /dev/null "http://127.0.0.1:$DAEMON_PORT/" && break; sleep 0.1; done
rc=0
NODE_PATH="$PLAYWRIGHT/node_modules" SHOTS=$R node "$here/e2e.js" "http://127.0.0.1:$PORT" "$R/ws" || rc=$?
echo "rc=$rc; screenshots and logs in $R"
exit $rc
