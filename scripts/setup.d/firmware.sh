# The firmware needs the nightly toolchain's rust-src (build-std = ["core"] for avr-none).
# Idempotent: nothing is downloaded when it is already there.
if command -v rustup >/dev/null && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  rustup component list --toolchain nightly --installed 2>/dev/null | grep -qx rust-src \
    || { printf 'setup: adding rust-src to the nightly toolchain\n' >&2; rustup component add rust-src --toolchain nightly >&2; }
  for c in rustfmt clippy; do
    rustup component list --toolchain nightly --installed 2>/dev/null | grep -q "^$c" \
      || { printf 'setup: adding %s to the nightly toolchain\n' "$c" >&2; rustup component add "$c" --toolchain nightly >&2; }
  done
fi
