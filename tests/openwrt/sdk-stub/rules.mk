# Stand-in for the OpenWrt SDK's rules.mk in sipnat's tests (written for
# this project; OpenWrt's is GPL and not vendored): only what
# openwrt/Makefile and the stub package.mk use. The test sets TOPDIR (this
# directory), BUILD_DIR and DL_DIR on the make command line.
INCLUDE_DIR:=$(TOPDIR)/include
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_DATA:=install -m0644
INSTALL_CONF:=install -m0600
CP:=cp -fpR
