#!/usr/bin/env bash
# CI check: the product compiles no C. In the dependency trees of courier's product packages
# (normal and build dependencies, for every target platform; dev-dependencies, benches and test
# crates excluded) there must be:
#   - no C build tools: cc, cmake, pkg-config, bindgen (nor vcpkg, cxx-build, autotools, nasm-rs);
#   - no C-backed crypto or TLS: ring, aws-lc-rs, aws-lc-sys, openssl, openssl-sys, boring;
#   - no -sys crate, except the few that are plain Rust declarations of an OS or JS interface
#     and build nothing (ALLOWED_SYS below; each is named with its reason on every run).
# On a finding it prints the offending crate and the chain that pulls it in (cargo tree -i),
# and exits 1.
#
#   ./scripts/check-no-c.sh                 check the product packages (found in the workspace)
#   ./scripts/check-no-c.sh -p courier-proto -p ...   check only these
set -euo pipefail
cd "$(dirname "$0")/.."

# Product packages that must exist; every other publishable workspace package whose name does not
# say bench/test/fuzz/example (courier-metrics, the metrics apps with courier-agent, ...) is
# checked too.
REQUIRED="courier-proto courier-socket courier-app courier-server courier-client"
BANNED="cc cmake pkg-config bindgen vcpkg cxx cxx-build autotools nasm-rs ring aws-lc-rs aws-lc-sys aws-lc-fips-sys openssl openssl-sys openssl-src boring boring-sys"
# -sys crates that contain no C and compile none: Rust declarations of system interfaces.
declare -A ALLOWED_SYS=(
    [linux-raw-sys]="Linux syscall numbers and structs as Rust (rustix); no build script"
    [windows-sys]="Win32 API declarations as Rust, Windows targets only; links to system DLLs through windows-targets' prebuilt import libraries, compiles nothing"
    [js-sys]="JavaScript bindings for wasm32 via wasm-bindgen, wasm targets only; plain Rust"
)

if (($#)); then
    PKGS=()
    while (($#)); do
        case $1 in
        -p) PKGS+=("$2"); shift 2 ;;
        *) echo "usage: $0 [-p PACKAGE]..." >&2; exit 2 ;;
        esac
    done
else
    list=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, re, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
required = sys.argv[1].split()
names = {p["name"]: p for p in meta["packages"] if p["id"] in members}
missing = [r for r in required if r not in names]
if missing:
    sys.exit("check-no-c: product package(s) not in the workspace: " + " ".join(missing))
out = list(required)
for name, p in sorted(names.items()):
    if name in out or p.get("publish") == []:  # publish = false: tests, benches, tools
        continue
    if re.search(r"bench|test|fuzz|example", name):
        continue
    out.append(name)
print("\n".join(out))
' "$REQUIRED") || exit 1
    mapfile -t PKGS <<<"$list"
fi
if ((${#PKGS[@]} == 0)) || [[ -z "${PKGS[0]}" ]]; then echo "check-no-c: no packages to check" >&2; exit 1; fi
echo "product packages: ${PKGS[*]}"

FAILED=0
declare -A SEEN_ALLOWED=()
for pkg in "${PKGS[@]}"; do
    # "name vX.Y.Z" per line (plus a path for workspace crates, "(*)" for repeats).
    tree=$(cargo tree -q -e normal,build -p "$pkg" --target all --prefix none --format '{p}') || {
        echo "FAIL  $pkg: cargo tree failed"
        FAILED=1
        continue
    }
    crates=$(awk '{ print $1 "@" substr($2, 2) }' <<<"$tree" | sort -u)
    n=$(wc -l <<<"$crates")
    bad=()
    while read -r spec; do
        name=${spec%@*}
        if [[ " $BANNED " == *" $name "* ]]; then
            bad+=("$spec")
        elif [[ "$name" == *-sys ]]; then
            if [[ -n "${ALLOWED_SYS[$name]:-}" ]]; then
                SEEN_ALLOWED[$name]=1
            else
                bad+=("$spec")
            fi
        fi
    done <<<"$crates"
    if ((${#bad[@]})); then
        FAILED=1
        echo "FAIL  $pkg: compiles or links C through: ${bad[*]}"
        for spec in "${bad[@]}"; do
            echo "  --- why $spec is in $pkg's tree (cargo tree -e normal,build --target all -i $spec):"
            cargo tree -q -e normal,build -p "$pkg" --target all -i "$spec" 2>&1 | sed 's/^/  | /'
        done
    else
        echo "PASS  $pkg: $n crates (normal+build, all targets), no C build tools, no C crypto, no C -sys crate"
    fi
done

if ((${#SEEN_ALLOWED[@]})); then
    echo "allowed -sys crates seen (no C in them):"
    for name in "${!SEEN_ALLOWED[@]}"; do echo "  $name: ${ALLOWED_SYS[$name]}"; done | sort
fi
if ((FAILED)); then
    echo "check-no-c: FAILED: the product's dependency tree must not compile C (see above)"
    exit 1
fi
echo "check-no-c: OK"
