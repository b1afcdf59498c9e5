"""Event-camera word decoders: one ``@njit`` loop per format, over words read and checked in Python.

Each decoder writes into output columns ``x, y, t, p`` that the caller sized from an upper bound (one
event per word, or ``evt3_capacity`` for EVT 3.0's vector words), carries its time state across calls
in a small int64 ``state`` array (so a file decoded block by block gives the same result as in one
call), and never raises: it returns ``(n_events, error, word_index)``, where ``error`` is one of the
``ERR_*`` codes and ``word_index`` the first offending word of this call. The Python readers turn that
into a ``FormatError`` with the byte offset.

Output times never decrease. Where the camera maker's decoder tolerates time words that step back
(Prophesee EVT 2.0/3.0), the event is stamped with the previous event's time (``state`` counts the
words so stamped); a step back in a format without that tolerance (N-MNIST ``.bin``, DAT) is
``ERR_BACKWARDS``. Bit layouts: ``../shared/reference/event-formats.md`` section 2.
"""
import numpy as np
from numba import njit

ERR_NONE = 0
ERR_WORD = 1        # a word type the format does not define
ERR_X = 2           # x outside the sensor width
ERR_Y = 3           # y outside the sensor height
ERR_BACKWARDS = 4   # a timestamp earlier than the one before it, beyond what the format tolerates
ERR_POLARITY = 5    # a polarity field that is neither 0 nor 1

# state slots shared by all decoders
LAST_T = 0          # time of the last event written (-1 before the first)
HELD = 1            # event words (an EVT 3.0 vector word counts once) whose time was held at the last
# EVT 2.0
EVT2_HIGH = 2       # last TIME_HIGH (28 bits), -1 before the first
EVT2_LOOPS = 3      # wraps of the 34-bit time
# EVT 3.0
EVT3_HIGH = 2       # last TIME_HIGH (12 bits), -1 before the first
EVT3_LOW = 3
EVT3_LOOPS = 4      # wraps of the 24-bit time
EVT3_Y = 5
EVT3_BASE_X = 6
EVT3_POL = 7
# N-MNIST .bin
BIN_OVERFLOWS = 3
# DAT
DAT_LAST_TS = 2     # last raw 32-bit timestamp, -1 before the first
DAT_WRAPS = 3
STATE_SIZE = 8


def new_state() -> np.ndarray:
    """A fresh decoder state: no event yet, no time word seen."""
    state = np.zeros(STATE_SIZE, np.int64)
    state[LAST_T] = -1
    state[2] = -1  # EVT2_HIGH, EVT3_HIGH, DAT_LAST_TS: none seen yet
    return state


@njit(cache=True)
def _held(t, state):
    """``t`` or, when it is earlier, the previous event's time (counted in ``state[HELD]``)."""
    if t < state[LAST_T]:
        state[HELD] += 1
        return state[LAST_T]
    return t


@njit(inline="always")
def _emit(x, y, t, p, n, xx, yy, ts, pol, state):
    """Write event ``n`` and remember its time as the last one; returns ``n + 1``."""
    x[n] = xx
    y[n] = yy
    t[n] = ts
    p[n] = pol
    state[LAST_T] = ts
    return n + 1


@njit(cache=True)
def decode_bin(raw, width, height, state, x, y, t, p):
    """N-MNIST / N-Caltech101 records: 5 bytes ``x, y, p<<7 | t[22:16], t[15:8], t[7:0]``.

    A record with ``y == 240`` is an overflow marker: later times gain ``2**13`` each (as Tonic and
    Orchard's loader do). ``raw`` is uint8 of shape (n, 5).
    """
    n = 0
    for i in range(raw.shape[0]):
        yy = np.int64(raw[i, 1])
        if yy == 240:
            state[BIN_OVERFLOWS] += 1
            continue
        xx = np.int64(raw[i, 0])
        b2 = np.int64(raw[i, 2])
        ts = ((b2 & 0x7F) << 16) | (np.int64(raw[i, 3]) << 8) | np.int64(raw[i, 4])
        ts += state[BIN_OVERFLOWS] << 13
        if xx >= width:
            return n, ERR_X, i
        if yy >= height:
            return n, ERR_Y, i
        if ts < state[LAST_T]:
            return n, ERR_BACKWARDS, i
        n = _emit(x, y, t, p, n, xx, yy, ts, b2 >> 7, state)
    return n, ERR_NONE, 0


@njit(cache=True)
def decode_evt2(words, width, height, state, x, y, t, p):
    """Prophesee EVT 2.0 32-bit words (type in bits 31-28).

    CD_OFF/CD_ON (0x0/0x1): ts low 6 bits 27-22, x 21-11, y 10-0; TIME_HIGH (0x8): bits 27-0;
    EXT_TRIGGER (0xA), IMU (0xD), OTHERS (0xE), CONTINUED (0xF) carry no CD event. CD events before the
    first TIME_HIGH have no time and are dropped. A TIME_HIGH more than half its range below the last
    one is a wrap of the 34-bit time.
    """
    n = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        kind = w >> 28
        if kind <= 1:
            if state[EVT2_HIGH] < 0:
                continue
            xx = (w >> 11) & 0x7FF
            yy = w & 0x7FF
            if xx >= width:
                return n, ERR_X, i
            if yy >= height:
                return n, ERR_Y, i
            ts = (state[EVT2_LOOPS] << 34) | (state[EVT2_HIGH] << 6) | ((w >> 22) & 0x3F)
            ts = _held(ts, state)
            n = _emit(x, y, t, p, n, xx, yy, ts, kind, state)
        elif kind == 0x8:
            high = w & 0xFFFFFFF
            if state[EVT2_HIGH] - high >= 1 << 27:
                state[EVT2_LOOPS] += 1
            state[EVT2_HIGH] = high
        elif kind != 0xA and kind != 0xD and kind != 0xE and kind != 0xF:
            return n, ERR_WORD, i
    return n, ERR_NONE, 0


@njit(cache=True)
def evt3_capacity(words):
    """An upper bound on the CD events in EVT 3.0 ``words``: one per EVT_ADDR_X, one per mask bit."""
    n = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        kind = w >> 12
        if kind == 0x2:
            n += 1
        elif kind == 0x4 or kind == 0x5:
            m = w & (0xFFF if kind == 0x4 else 0xFF)
            while m:
                m &= m - 1
                n += 1
    return n


@njit(cache=True)
def decode_evt3(words, width, height, state, x, y, t, p):
    """Prophesee EVT 3.0 16-bit words (type in bits 15-12), with openeb's time rules.

    EVT_ADDR_Y (0x0) sets y; EVT_ADDR_X (0x2) emits (x, y, t, bit 11); VECT_BASE_X (0x3) sets base x and
    polarity; VECT_12 (0x4) / VECT_8 (0x5) emit base x + k for each set mask bit k, then advance base x
    by 12 / 8; TIME_LOW (0x6) and TIME_HIGH (0x8) set the 12-bit halves of a 24-bit time; a TIME_HIGH
    at least 2**11 below the last one is a wrap (time += 2**24); a change of TIME_HIGH clears TIME_LOW.
    CONTINUED_4 (0x7), EXT_TRIGGER (0xA), IMU (0xD), OTHERS (0xE), CONTINUED_12 (0xF) carry no CD event.
    CD events before the first TIME_HIGH are dropped. Output needs ``evt3_capacity(words)`` slots.
    """
    n = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        kind = w >> 12
        if kind == 0x0:
            state[EVT3_Y] = w & 0x7FF
        elif kind == 0x2 or kind == 0x4 or kind == 0x5:
            if state[EVT3_HIGH] < 0:
                continue
            yy = state[EVT3_Y]
            if yy >= height:
                return n, ERR_Y, i
            ts = (state[EVT3_LOOPS] << 24) | (state[EVT3_HIGH] << 12) | state[EVT3_LOW]
            ts = _held(ts, state)
            if kind == 0x2:
                xx = w & 0x7FF
                if xx >= width:
                    return n, ERR_X, i
                x[n] = xx
                y[n] = yy
                t[n] = ts
                p[n] = (w >> 11) & 1
                n += 1
            else:
                base = state[EVT3_BASE_X]
                size = 12 if kind == 0x4 else 8
                m = w & ((1 << size) - 1)
                pol = state[EVT3_POL]
                while m:
                    k = _ctz(m)
                    m &= m - 1
                    if base + k >= width:
                        return n, ERR_X, i
                    x[n] = base + k
                    y[n] = yy
                    t[n] = ts
                    p[n] = pol
                    n += 1
                state[EVT3_BASE_X] = base + size
            state[LAST_T] = ts
        elif kind == 0x3:
            state[EVT3_BASE_X] = w & 0x7FF
            state[EVT3_POL] = (w >> 11) & 1
        elif kind == 0x6:
            state[EVT3_LOW] = w & 0xFFF
        elif kind == 0x8:
            high = w & 0xFFF
            if state[EVT3_HIGH] >= high + 2048:
                state[EVT3_LOOPS] += 1
            if high != state[EVT3_HIGH]:
                state[EVT3_LOW] = 0
            state[EVT3_HIGH] = high
        elif kind != 0x7 and kind != 0xA and kind != 0xD and kind != 0xE and kind != 0xF:
            return n, ERR_WORD, i
    return n, ERR_NONE, 0


@njit(cache=True)
def _ctz(m):
    """Index of the lowest set bit of ``m`` > 0."""
    k = 0
    while not (m >> k) & 1:
        k += 1
    return k


@njit(cache=True)
def decode_dat(records, width, height, state, x, y, t, p):
    """Prophesee DAT CD records: pairs of uint32 ``(ts, w)``; x = w[13:0], y = w[27:14], p = w[31:28].

    The 32-bit timestamp wraps (about every 71.6 minutes): a drop of more than 2**31 is a wrap; any
    other drop is ``ERR_BACKWARDS``. ``records`` is a uint32 array of shape (n, 2).
    """
    n = 0
    for i in range(records.shape[0]):
        ts = np.int64(records[i, 0])
        w = np.int64(records[i, 1])
        xx = w & 0x3FFF
        yy = (w >> 14) & 0x3FFF
        pol = w >> 28
        if xx >= width:
            return n, ERR_X, i
        if yy >= height:
            return n, ERR_Y, i
        if pol > 1:
            return n, ERR_POLARITY, i
        last = state[DAT_LAST_TS]
        if last >= 0 and ts < last:
            if last - ts <= 1 << 31:
                return n, ERR_BACKWARDS, i
            state[DAT_WRAPS] += 1
        state[DAT_LAST_TS] = ts
        ts += state[DAT_WRAPS] << 32
        n = _emit(x, y, t, p, n, xx, yy, ts, pol, state)
    return n, ERR_NONE, 0
