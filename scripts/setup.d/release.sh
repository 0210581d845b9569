# scripts/release: the aarch64 musl target (linked by rust-lld with Rust's self-contained
# musl crt, see .cargo/config.toml) and cargo-deb from crates.io; the .rpm is made by
# rpmbuild (Debian's rpm package: cargo-generate-rpm cannot package symlinks)
if command -v rustup >/dev/null; then
  rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-musl \
    || { say "adding the aarch64-unknown-linux-musl target"; rustup target add aarch64-unknown-linux-musl >&2; }
fi
command -v cargo-deb >/dev/null || { say "installing cargo-deb"; cargo install cargo-deb --locked >&2; }
