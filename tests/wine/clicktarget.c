/*
 * A Windows test program for the Wine end-to-end test: a borderless window at a fixed place
 * on the desktop, painted orange, that appends what reaches it to a log file (the path is
 * the first argument):
 *   ready X Y W H                  once shown (its rectangle on the desktop)
 *   down L|R|M X Y / up L|R|M X Y  mouse buttons, at client coordinates
 *   wheel DELTA                    the vertical wheel
 *   key SCANCODE EXTENDED VK       a key pressed (scan code set 1, as SendInput gave it)
 *   char CODEPOINT                 text typed
 * Each left click turns the window from orange to green and back, so the picture shows it.
 * Over the window the cursor is a 16x16 colour cursor of its own: the left half transparent,
 * the right half opaque red, the hotspot at (3, 5); F8 hides it (ShowCursor) and shows it again.
 */
#include <windows.h>
#include <stdio.h>

#define X 160
#define Y 120
#define W 640
#define H 360

static FILE *out;
static int green;
static int hidden;

static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
}

static LRESULT CALLBACK proc(HWND wnd, UINT msg, WPARAM wp, LPARAM lp)
{
    int x = (short)LOWORD(lp), y = (short)HIWORD(lp);
    switch (msg) {
    case WM_LBUTTONDOWN:
        logf_("down L %d %d", x, y);
        green = !green;
        InvalidateRect(wnd, NULL, TRUE);
        return 0;
    case WM_LBUTTONUP: logf_("up L %d %d", x, y); return 0;
    case WM_RBUTTONDOWN: logf_("down R %d %d", x, y); return 0;
    case WM_RBUTTONUP: logf_("up R %d %d", x, y); return 0;
    case WM_MBUTTONDOWN: logf_("down M %d %d", x, y); return 0;
    case WM_MBUTTONUP: logf_("up M %d %d", x, y); return 0;
    case WM_MOUSEWHEEL: logf_("wheel %d", GET_WHEEL_DELTA_WPARAM(wp)); return 0;
    case WM_KEYDOWN:
        logf_("key %u %u %u", (unsigned)((lp >> 16) & 0xff), (unsigned)((lp >> 24) & 1), (unsigned)wp);
        if (wp == VK_F8) {
            hidden = !hidden;
            ShowCursor(!hidden);
            logf_("cursor %s", hidden ? "hidden" : "shown");
        }
        return 0;
    case WM_CHAR: logf_("char %u", (unsigned)wp); return 0;
    case WM_ERASEBKGND: {
        RECT r;
        HBRUSH b = CreateSolidBrush(green ? RGB(40, 200, 60) : RGB(250, 140, 20));
        GetClientRect(wnd, &r);
        FillRect((HDC)wp, &r, b);
        DeleteObject(b);
        return 1;
    }
    case WM_DESTROY: PostQuitMessage(0); return 0;
    }
    return DefWindowProcW(wnd, msg, wp, lp);
}

/* The red half-cursor described above, with alpha. */
static HCURSOR red_cursor(void)
{
    static const BYTE zeros[32];
    BITMAPV5HEADER h = {0};
    ICONINFO ii = {0};
    DWORD *bits;
    HDC dc = GetDC(NULL);
    HBITMAP color, mask;
    HCURSOR c;
    int x, y;
    h.bV5Size = sizeof h;
    h.bV5Width = 16;
    h.bV5Height = -16;
    h.bV5Planes = 1;
    h.bV5BitCount = 32;
    h.bV5Compression = BI_BITFIELDS;
    h.bV5RedMask = 0x00ff0000;
    h.bV5GreenMask = 0x0000ff00;
    h.bV5BlueMask = 0x000000ff;
    h.bV5AlphaMask = 0xff000000;
    color = CreateDIBSection(dc, (BITMAPINFO *)&h, DIB_RGB_COLORS, (void **)&bits, NULL, 0);
    ReleaseDC(NULL, dc);
    if (!color) return LoadCursor(NULL, IDC_CROSS);
    for (y = 0; y < 16; y++)
        for (x = 0; x < 16; x++)
            bits[y * 16 + x] = x < 8 ? 0 : 0xffff0000;
    mask = CreateBitmap(16, 16, 1, 1, zeros);
    ii.fIcon = FALSE;
    ii.xHotspot = 3;
    ii.yHotspot = 5;
    ii.hbmColor = color;
    ii.hbmMask = mask;
    c = CreateIconIndirect(&ii);
    DeleteObject(color);
    DeleteObject(mask);
    return c ? c : LoadCursor(NULL, IDC_CROSS);
}

int WINAPI WinMain(HINSTANCE inst, HINSTANCE prev, LPSTR cmd, int show)
{
    WNDCLASSW wc = {0};
    HWND wnd;
    MSG m;
    (void)prev;
    (void)show;
    if (!cmd || !*cmd) return 2;
    out = fopen(cmd, "a");
    if (!out) return 3;
    wc.lpfnWndProc = proc;
    wc.hInstance = inst;
    wc.hCursor = red_cursor();
    wc.lpszClassName = L"peerdesk-clicktarget";
    RegisterClassW(&wc);
    wnd = CreateWindowExW(WS_EX_TOPMOST, wc.lpszClassName, L"peerdesk click target", WS_POPUP | WS_VISIBLE,
                          X, Y, W, H, NULL, NULL, inst, NULL);
    if (!wnd) return 4;
    SetForegroundWindow(wnd);
    UpdateWindow(wnd);
    logf_("ready %d %d %d %d", X, Y, W, H);
    while (GetMessageW(&m, NULL, 0, 0) > 0) {
        TranslateMessage(&m);
        DispatchMessageW(&m);
    }
    return 0;
}
