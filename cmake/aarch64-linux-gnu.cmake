# Cross build for 64-bit Arm Linux (Kunpeng, Graviton, Ampere, ...) with Debian's cross compiler
# (Debian 12: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross) and, for the tests, qemu-user
# (qemu-aarch64) as CTest's emulator. Only the dependency-free core builds this way (no arm64
# libcjson/libsodium/... are installed): use with -DCLAWNET_CORE_ONLY=ON (docs/arm.md).
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCLAWNET_CORE_ONLY=ON
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest runs every test binary as `qemu-aarch64 -L /usr/aarch64-linux-gnu test_x` (the -L prefix
# is where the arm64 dynamic loader and libc live). QEMU_CPU in the environment picks the
# emulated CPU (e.g. cortex-a53: no dot-product instructions; the default "max" has them).
find_program(CLAWNET_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(CLAWNET_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${CLAWNET_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
