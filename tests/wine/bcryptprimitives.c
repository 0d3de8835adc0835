/*
 * A stand-in for Windows' bcryptprimitives.dll, for running peerdesk.exe under Wine 8 in the
 * tests only: Wine 8 has no bcryptprimitives.dll, and Rust's standard library imports
 * ProcessPrng from it (Windows 10 and later have it). Placed beside the exe, Windows' DLL
 * search finds it first. ProcessPrng fills the buffer from RtlGenRandom
 * (advapi32's SystemFunction036), which Wine implements; like Windows' ProcessPrng, it
 * returns TRUE.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
