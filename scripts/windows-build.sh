#!/usr/bin/env bash
# Builds the Windows host, `target/x86_64-pc-windows-gnu/debug/peerdesk.exe`, with Debian's
# mingw-w64, after clippy (-D warnings) on the crates with Windows code; fails when the exe
# needs a DLL that Windows does not ship (it must be one file).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
crates=(-p peerdesk -p peerdesk-host -p peerdesk-capture -p peerdesk-input -p peerdesk-audio)
cargo clippy --target "$target" --locked "${crates[@]}" -- -D warnings
cargo build --target "$target" --locked -p peerdesk
exe="target/$target/debug/peerdesk.exe"
dlls=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^\s*DLL Name: //p' | sort -uf)
# Windows' own DLLs; anything else (libstdc++-6.dll, libssp-0.dll...) would have to ship beside it.
system='^(kernel32|user32|gdi32|advapi32|ws2_32|userenv|ntdll|msvcrt|bcrypt|bcryptprimitives|iphlpapi|ole32|oleaut32|shell32|combase|rpcrt4|mmdevapi|propsys|avrt|setupapi|d3d11|dxgi|api-ms-win-.*)\.dll$'
extra=$(grep -viE "$system" <<<"$dlls" || true)
if [ -n "$extra" ]; then
  echo "$exe needs DLLs Windows does not have: $extra" >&2
  exit 1
fi
echo "$exe: $(du -h "$exe" | cut -f1), imports only Windows' own DLLs ($(tr '\n' ' ' <<<"$dlls"))"

# For running it under Wine in the tests (tests/e2e/windows-wine.test.js): Wine 8 lacks
# bcryptprimitives.dll, which Rust's standard library imports, so a shim goes beside the exe;
# clicktarget.exe is the Windows program the test clicks on.
parts="target/$target/debug/wine-test"
mkdir -p "$parts"
x86_64-w64-mingw32-gcc -O2 -Wall -Werror -shared -o "$parts/bcryptprimitives.dll" \
  tests/wine/bcryptprimitives.c tests/wine/bcryptprimitives.def -ladvapi32
x86_64-w64-mingw32-gcc -O2 -Wall -Werror -mwindows -o "$parts/clicktarget.exe" tests/wine/clicktarget.c
echo "$parts: bcryptprimitives.dll (ProcessPrng for Wine 8), clicktarget.exe"
