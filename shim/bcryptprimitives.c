/*
 * Stand-in for bcryptprimitives.dll, for running Rust programs under Wine.
 *
 * Rust std >= 1.78 gets its random bytes (HashMap seeds, ...) from
 * ProcessPrng in bcryptprimitives.dll. Wine 8.0 has no such DLL, so every
 * Rust .exe fails to start with STATUS_DLL_NOT_FOUND (c0000135).
 * scripts/setup.sh builds this file and copies it into the test Wine
 * prefix's system32. It is test infrastructure only, never part of winpipe.
 */
#include <windows.h>

/* RtlGenRandom; advapi32 exports it under this name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG len);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length: fill larger buffers in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0xFFFFFFFFu ? 0xFFFFFFFFu : (ULONG)len;
        /* Like the real ProcessPrng, never return failure (std ignores the
         * result): end the process rather than leave the buffer unfilled. */
        if (!SystemFunction036(data, chunk))
            TerminateProcess(GetCurrentProcess(), 0xC0000001 /* STATUS_UNSUCCESSFUL */);
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
