#!/bin/sh
# Build our FerretDB v1 wrapper with ONE upstream expression corrected at compile time.
#
# FerretDB v1.24.2 (SQLite backend) indexes `_id` as the SQLite expression
#     _ferretdb_sjson->"_id"
# but filters by `_id` (find, update, delete) with
#     _ferretdb_sjson->'$._id'
# SQLite uses an expression index only for the same expression, so every lookup, update and
# delete by `_id` scanned the whole table: measured 43 ms for a missing id among 925 account
# documents, against 0.07 ms through the index (EXPLAIN QUERY PLAN: SCAN vs SEARCH USING INDEX).
# Both expressions yield the same JSON value. Nothing of FerretDB is copied into this repository
# and the module cache stays untouched: the build copies the pinned module from the cache into
# WORK_DIR (git-ignored), changes that one line with the sed below, and builds our wrapper with a
# `replace` pointing at the copy. The build fails if the upstream line is not found, so a
# FerretDB upgrade cannot silently drop the correction.
#
# Usage: build.sh OUTPUT_BINARY WORK_DIR   (run from infra/ferretdb)
set -eu
out=$1
work=$2
here=$(pwd)
rm -rf "$work"
mkdir -p "$work"
go mod download github.com/FerretDB/FerretDB
upstream="$(go list -m -f '{{.Dir}}' github.com/FerretDB/FerretDB)"
cp -R "$upstream" "$work/ferretdb-src"
chmod -R u+w "$work/ferretdb-src"
meta="$work/ferretdb-src/internal/backends/sqlite/metadata/metadata.go"
sed -i 's|IDColumn = DefaultColumn + "->'"'"'\$\._id'"'"'"|IDColumn = DefaultColumn + `->"_id"`|' "$meta"
if ! grep -q 'IDColumn = DefaultColumn + `->"_id"`' "$meta"; then
    echo "error: FerretDB's IDColumn line not found in $meta; review infra/ferretdb/build.sh" >&2
    exit 1
fi
cp "$here/main.go" "$here/go.mod" "$here/go.sum" "$work/"
cd "$work"
go mod edit -replace github.com/FerretDB/FerretDB=./ferretdb-src
go build -trimpath -o "$out.tmp" .
mv "$out.tmp" "$out"
