#!/usr/bin/env bash
# Seeds the fuzz corpora from the shared captures (read in place, never committed:
# fuzz/corpus is ignored by git). Usage: bash fuzz/seed.sh [VECTORS_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vectors=${1:-${A2S_VECTORS:-$here/../../shared/vectors}}
for t in info players rules classify reassemble reassemble_exact exchange endpoint arma; do mkdir -p "$here/corpus/$t"; done
n=0
for p in "$vectors"/*/*/packet-*.bin; do
  name=$(echo "$p" | sed 's|.*/vectors/||; s|/|_|g')
  cp "$p" "$here/corpus/classify/$name"
  header=$(head -c 4 "$p" | od -An -tx1 | tr -d ' \n')
  if [ "$header" = "ffffffff" ]; then
    tail -c +5 "$p" > "$here/corpus/info/$name"          # type byte + body
    tail -c +6 "$p" > "$here/corpus/players/$name"       # body
    tail -c +6 "$p" > "$here/corpus/rules/$name"
  else
    # reassemble: mode byte 0, then length-prefixed datagrams without the FE header.
    len=$(( $(stat -c %s "$p") - 4 ))
    [ "$len" -gt 255 ] && len=255
    { printf '\x00'; printf "\\x$(printf %02x "$len")"; tail -c +5 "$p" | head -c "$len"; } > "$here/corpus/reassemble/$name"
  fi
  n=$((n + 1))
done
echo "seeded from $n captures in $vectors"
