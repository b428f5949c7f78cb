# Stand-in for the OpenWrt SDK's include/package.mk in sipnat's tests
# (written for this project, not OpenWrt's code). It keeps the parts of
# OpenWrt's conventions that openwrt/Makefile relies on:
# - PKG_BUILD_DIR is $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION), inside
#   $(BUILD_DIR)/$(PKG_NAME)-$(BUILD_VARIANT)/ when a variant is built (each
#   variant has its own), PKG_INSTALL_DIR its ipkg-install (where cargo
#   install --root puts bin/sipnat);
# - VERSION is $(PKG_VERSION)-$(PKG_RELEASE) for opkg and
#   $(PKG_VERSION)-r$(PKG_RELEASE) for apk (CONFIG_USE_APK=y);
# - a package with a VARIANT is built only in the pass for that variant
#   (BUILD_VARIANT on the make command line, as the SDK gives it); every
#   package's fields start from Package/Default's empty values;
# - the default Build/Prepare unpacks $(DL_DIR)/$(PKG_SOURCE) in the
#   directory above $(PKG_BUILD_DIR), as unpack.mk does; a package's own
#   `define Build/Prepare` replaces it;
# - a download (only when PKG_SOURCE_URL is set) must match PKG_HASH, which
#   must be a sha256 (no "skip"): here it is copied from $(SIPNAT_TEST_MIRROR)
#   instead of the network, and checked with sha256sum.
# BuildPackage makes these targets, for the package of BUILD_VARIANT,
# instead of building anything:
#   info      NAME=VALUE lines of the variables the tests look at
#   download  the checked copy into $(DL_DIR)
#   prepare   Build/Prepare into a fresh $(PKG_BUILD_DIR)
#   compile   prints the Build/Compile commands (rust-package.mk's cargo
#             command) instead of running them
#   install   Package/<name>/install into $(DEST)

PKG_BUILD_DIR ?= $(BUILD_DIR)/$(if $(BUILD_VARIANT),$(PKG_NAME)-$(BUILD_VARIANT)/)$(PKG_NAME)$(if $(PKG_VERSION),-$(PKG_VERSION))
PKG_INSTALL_DIR ?= $(PKG_BUILD_DIR)/ipkg-install
VERSION = $(PKG_VERSION)$(if $(PKG_RELEASE),$(if $(CONFIG_USE_APK),-r,-)$(PKG_RELEASE))

define Build/Prepare
	mkdir -p $(PKG_BUILD_DIR)/..
	tar -C $(PKG_BUILD_DIR)/.. -xzf $(DL_DIR)/$(PKG_SOURCE)
endef

define Package/Default
  TITLE:=
  SECTION:=
  CATEGORY:=
  SUBMENU:=
  DEPENDS:=
  PROVIDES:=
  CONFLICTS:=
  VARIANT:=
  DEFAULT_VARIANT:=
  USERID:=
endef

define BuildPackage
  $(eval $(Package/Default))
  $(eval $(Package/$(1)))
  ifeq ($(if $(VARIANT),$(BUILD_VARIANT)),$(VARIANT))
  .PHONY: info download prepare compile install
  info:
	@echo 'NAME=$(1)'
	@echo 'TITLE=$(TITLE)'
	@echo 'VARIANT=$(VARIANT)'
	@echo 'DEFAULT_VARIANT=$(DEFAULT_VARIANT)'
	@echo 'PROVIDES=$(strip $(PROVIDES))'
	@echo 'CONFLICTS=$(strip $(CONFLICTS))'
	@echo 'RUST_PKG_FEATURES=$(strip $(RUST_PKG_FEATURES))'
	@echo 'PKG_SOURCE=$(PKG_SOURCE)'
	@echo 'PKG_SOURCE_URL=$(PKG_SOURCE_URL)'
	@echo 'PKG_HASH=$(PKG_HASH)'
	@echo 'PKG_MAINTAINER=$(PKG_MAINTAINER)'
	@echo 'PKG_VERSION=$(PKG_VERSION)'
	@echo 'PKG_RELEASE=$(PKG_RELEASE)'
	@echo 'VERSION=$(VERSION)'
	@echo 'SIPNAT_SRC=$(SIPNAT_SRC)'
	@echo 'PKG_BUILD_DIR=$(PKG_BUILD_DIR)'
	@echo 'USERID=$(USERID)'
	@echo 'DEPENDS=$(strip $(DEPENDS))'
	@echo 'CARGO_PKG_VARS=$(strip $(CARGO_PKG_VARS))'
	@echo 'CONFFILES=$(strip $(Package/$(1)/conffiles))'
  download:
	$(if $(PKG_SOURCE_URL),,@echo "no PKG_SOURCE_URL: nothing to download"; exit 0)
	case '$(PKG_HASH)' in *[!0-9a-f]* | '') echo 'PKG_HASH $(PKG_HASH) is no sha256' >&2; exit 1 ;; esac
	mkdir -p $(DL_DIR)
	cp $(SIPNAT_TEST_MIRROR)/$(PKG_SOURCE) $(DL_DIR)/$(PKG_SOURCE).part
	echo '$(PKG_HASH)  $(DL_DIR)/$(PKG_SOURCE).part' | sha256sum -c --quiet -
	mv $(DL_DIR)/$(PKG_SOURCE).part $(DL_DIR)/$(PKG_SOURCE)
  prepare:
	rm -rf $(PKG_BUILD_DIR)
	mkdir -p $(PKG_BUILD_DIR)
	$(Build/Prepare)
  compile:
	@echo '$(strip $(Build/Compile))'
  install:
	$(call Package/$(1)/install,$(DEST))
  endif
endef
