# cargo-fuzz (crates.io) and the nightly toolchain it builds with, for scripts/fuzz
if command -v rustup >/dev/null; then
  rustup toolchain list | grep -q '^nightly' || { say "installing the nightly toolchain"; rustup toolchain install nightly --profile minimal >&2; }
fi
command -v cargo-fuzz >/dev/null || { say "installing cargo-fuzz"; cargo install cargo-fuzz --locked >&2; }
