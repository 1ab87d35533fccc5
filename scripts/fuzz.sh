#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ (or those named as arguments) for FUZZ_SECONDS seconds
# each, one after the other, and exits non-zero if any target crashes (or fails to build).
#
#   scripts/fuzz.sh                         # all targets, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh frame_decoder connection_null
#   FUZZ_TARGETS="curve_server curve_client" FUZZ_SECONDS=300 scripts/fuzz.sh
#   FUZZ_CORPUS_DIR=~/courier-corpus FUZZ_SECONDS=3600 scripts/fuzz.sh   # keep what it learns
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 60)
#   FUZZ_TARGETS     space-separated targets to run (default: all; arguments win over it)
#   FUZZ_CORPUS_DIR  where each target's grown corpus is kept between runs (default: a
#                    temporary directory, deleted afterwards). The committed seeds in
#                    fuzz/corpus/<target>/ are read but never written to.
#   FUZZ_TIMEOUT     seconds one input may take before it counts as a hang (default 10)
#   FUZZ_ARGS        extra libFuzzer arguments, e.g. "-max_len=16384"
#
# Needs the nightly toolchain (cargo +nightly) and cargo-fuzz; installs either if missing
# (nightly through rustup, in ~/.rustup; cargo-fuzz into target/tools) and exits 2, loudly, if
# it cannot.
# Crash inputs are written to fuzz/artifacts/<target>/ (git-ignored); reproduce one with
#   cargo +nightly fuzz run --fuzz-dir fuzz <target> fuzz/artifacts/<target>/<crash-file>
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2
seconds="${FUZZ_SECONDS:-60}"
timeout="${FUZZ_TIMEOUT:-10}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh: the nightly toolchain is missing; installing it" >&2
    if ! command -v rustup >/dev/null || ! rustup toolchain install nightly --profile minimal; then
        echo "fuzz.sh: ERROR: cannot install the nightly toolchain (rustup toolchain install nightly)" >&2
        exit 2
    fi
fi
# cargo-fuzz goes into the project (target/tools), not ~/.cargo: `cargo clean` removes it.
tools="$root/target/tools"
export PATH="$tools/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz into $tools" >&2
    if ! cargo install cargo-fuzz --locked --root "$tools"; then
        echo "fuzz.sh: ERROR: cannot install cargo-fuzz (cargo install cargo-fuzz --locked --root $tools)" >&2
        exit 2
    fi
fi

mapfile -t known < <(cargo +nightly fuzz list --fuzz-dir fuzz)
if [ "${#known[@]}" -eq 0 ]; then
    echo "fuzz.sh: ERROR: no fuzz targets found (cargo +nightly fuzz list --fuzz-dir fuzz)" >&2
    exit 2
fi
if [ "$#" -gt 0 ]; then
    targets=("$@")
elif [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    targets=("${known[@]}")
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz.sh: ERROR: no targets selected (FUZZ_TARGETS is blank)" >&2
    exit 2
fi
for target in "${targets[@]}"; do
    if ! printf '%s\n' "${known[@]}" | grep -qxF -- "$target"; then
        echo "fuzz.sh: ERROR: unknown target '$target' (known: ${known[*]})" >&2
        exit 2
    fi
done

echo "fuzz.sh: building the fuzz targets (${#targets[@]} to run)" >&2
if ! cargo +nightly fuzz build --fuzz-dir fuzz; then
    echo "fuzz.sh: build failed" >&2
    exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failed=()
summary=()
for target in "${targets[@]}"; do
    if [ -n "${FUZZ_CORPUS_DIR:-}" ]; then
        corpus="$FUZZ_CORPUS_DIR/$target"
    else
        corpus="$scratch/corpus-$target"
    fi
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    seeds="fuzz/corpus/$target"
    log="$scratch/$target.log"
    case "$target" in
        message) dict=(-dict=fuzz/dict/message.dict) ;;
        curve_*) dict=(-dict=fuzz/dict/curve.dict) ;;
        *) dict=(-dict=fuzz/dict/zmtp.dict) ;;
    esac
    echo "fuzz.sh: $target for ${seconds}s" >&2
    start=$(date +%s)
    # New inputs go to the first corpus directory (temporary or FUZZ_CORPUS_DIR); the seed
    # directory is only read. A single allocation over 64 MiB (from inputs of a few KiB) or
    # an RSS over 2 GiB is reported as a crash.
    # shellcheck disable=SC2086
    cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$corpus" "$seeds" -- \
        -max_total_time="$seconds" -timeout="$timeout" \
        -rss_limit_mb=2048 -malloc_limit_mb=64 -print_final_stats=1 "${dict[@]}" ${FUZZ_ARGS:-} \
        >"$log" 2>&1
    status=$?
    elapsed=$(( $(date +%s) - start ))
    runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -n1 | grep -Eo '[0-9]+' || true)"
    [ -n "$runs" ] || runs="$(grep -E '^stat::number_of_executed_units' "$log" | grep -Eo '[0-9]+$' | tail -n1 || true)"
    cov="$(grep -Eo 'cov: [0-9]+' "$log" | tail -n1 | grep -Eo '[0-9]+' || true)"
    if [ "$status" -eq 0 ]; then
        result=ok
    else
        result="CRASH (exit $status)"
        failed+=("$target")
        echo "---- $target: last lines of the libFuzzer log ----" >&2
        tail -n 60 "$log" >&2
        grep -E 'Test unit written to|artifact_prefix' "$log" >&2 || true
    fi
    summary+=("$(printf '%-16s %-18s %12s execs %6s s  cov %s' "$target" "$result" "${runs:-?}" "$elapsed" "${cov:-?}")")
done

echo
echo "fuzz.sh: ${seconds}s per target"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz.sh: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz.sh: all targets passed"
