# Stand-in for the packages feed's lang/rust/rust-package.mk in sipnat's
# tests (written for this project): the names a Rust package's Makefile
# uses, with values that only show they reach it. Build/Compile is the
# cargo command the real file runs (openwrt/packages lang/rust/
# rust-package.mk: RUST_PKG_FEATURES, "space or comma separated", becomes
# `--features "..."`, nothing when empty), shortened to what the tests
# look at; the stub package.mk prints it instead of running it.
RUST_ARCH_DEPENDS:=@(aarch64||arm||mips||mipsel||x86_64)
CARGO_PKG_VARS=CARGO_PROFILE_RELEASE_OPT_LEVEL=z CARGO_PROFILE_RELEASE_PANIC=unwind

define Build/Compile/Cargo
	cargo install -v \
		$(if $(strip $(RUST_PKG_FEATURES)),--features "$(strip $(RUST_PKG_FEATURES))") \
		--root $(PKG_INSTALL_DIR) \
		--path "$(PKG_BUILD_DIR)" \
		--locked
endef

define RustBinPackage
  ifndef Package/$(1)/install
    define Package/$(1)/install
	$$(INSTALL_DIR) $$(1)/usr/bin/
	$$(INSTALL_BIN) $$(PKG_INSTALL_DIR)/bin/* $$(1)/usr/bin/
    endef
  endif
endef

Build/Compile=$(call Build/Compile/Cargo)
