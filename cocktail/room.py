"""Room impulse responses of a shoebox room by the image-source method.

A compact implementation of Allen & Berkley (1979): every wall reflection is
replaced by a mirror image of the source; the response at a microphone is a
sum of delayed, attenuated impulses, one per image, with the attenuation of
each wall bounce ``beta = sqrt(1 - alpha)``. The absorption ``alpha`` is the
same on every wall, found from the reverberation time by Sabine's formula
RT60 = 0.161 V / (S alpha). Delays fall between samples, so each impulse is
a Hann-windowed sinc. Images are kept up to the distance sound travels in
RT60 (by then the response has decayed by 60 dB).

It is enough to make test mixtures with realistic echoes; it models neither
air absorption nor frequency-dependent walls.
"""

import numpy as np

from .errors import CocktailError

SPEED_OF_SOUND = 343.0  # m/s
SINC_HALF = 16  # taps on each side of a fractional delay
MAX_IMAGES = 3_000_000  # per source-microphone pair, to bound time and memory


def absorption(rt60, size):
    """Wall absorption (0..1) giving ``rt60`` seconds in a room of ``size`` (Sabine).

    Parameters
    ----------
    rt60 : float
        Reverberation time, in seconds.
    size : sequence of 3 floats
        The room's length, width and height, in metres.

    Returns
    -------
    float
        The absorption ``alpha`` of every wall.

    Raises
    ------
    CocktailError
        When the room is too large for so short an RT60 (``alpha`` above 1).
    """
    lx, ly, lz = size
    volume = lx * ly * lz
    surface = 2 * (lx * ly + ly * lz + lx * lz)
    alpha = 0.161 * volume / (surface * rt60)
    if alpha > 1:
        shortest = 0.161 * volume / surface
        raise CocktailError(
            f"a {lx:g} x {ly:g} x {lz:g} m room cannot have an RT60 of {rt60:g} s: the shortest "
            f"possible (walls absorbing everything) is {shortest:.3f} s"
        )
    return alpha


def impulse_response(source, mic, size, rt60, rate, length=None):
    """The response from ``source`` to ``mic`` (positions in metres) as an array.

    Parameters
    ----------
    source, mic : sequence of 3 floats
        Positions inside the room, in metres.
    size : sequence of 3 floats
        The room's length, width and height, in metres.
    rt60 : float
        Reverberation time, in seconds.
    rate : int
        Sample rate, in Hz.
    length : int, optional
        Taps of the response (default: RT60 in samples plus 2 * SINC_HALF).

    Returns
    -------
    ndarray, shape (length,)

    Raises
    ------
    CocktailError
        As :func:`absorption`, or when the RT60 needs more than MAX_IMAGES
        image sources.
    """
    size = np.asarray(size, float)
    source, mic = np.asarray(source, float), np.asarray(mic, float)
    beta = np.sqrt(1 - absorption(rt60, size))
    reach = SPEED_OF_SOUND * rt60  # metres travelled while decaying by 60 dB
    n = length or int(np.ceil(rt60 * rate)) + 2 * SINC_HALF
    orders = [
        np.arange(-int(np.ceil(reach / (2 * L))) - 1, int(np.ceil(reach / (2 * L))) + 2)
        for L in size
    ]
    count = 8 * np.prod([len(o) for o in orders])
    if count > MAX_IMAGES:
        raise CocktailError(
            f"RT60 {rt60:g} s needs too many image sources ({count}) for this room; "
            "use a shorter RT60 or a smaller room"
        )
    h = np.zeros(n + 2 * SINC_HALF)
    taps = np.arange(-SINC_HALF, SINC_HALF + 1)
    window = 0.5 + 0.5 * np.cos(np.pi * taps / (SINC_HALF + 1))
    for parity in np.ndindex(2, 2, 2):
        # Image coordinate along each axis: (1 - 2p) s + 2 l L; bounces |l - p| + |l|.
        comp, bounces = [], []
        for axis in range(3):
            p, L, o = parity[axis], size[axis], orders[axis]
            comp.append((1 - 2 * p) * source[axis] + 2 * o * L - mic[axis])
            bounces.append(np.abs(o - p) + np.abs(o))
        dx, dy, dz = np.meshgrid(*comp, indexing="ij")
        bx, by, bz = np.meshgrid(*bounces, indexing="ij")
        dist = np.sqrt(dx * dx + dy * dy + dz * dz).ravel()
        keep = dist <= reach
        dist = dist[keep]
        gain = beta ** (bx + by + bz).ravel()[keep] / (4 * np.pi * np.maximum(dist, 1e-3))
        delay = dist / SPEED_OF_SOUND * rate
        whole = np.floor(delay).astype(int)
        frac = delay - whole
        for k, t in enumerate(taps):
            idx = whole + t + SINC_HALF
            ok = (idx >= 0) & (idx < len(h))
            w = gain * np.sinc(t - frac) * window[k]
            h += np.bincount(idx[ok], weights=w[ok], minlength=len(h))
    return h[SINC_HALF : SINC_HALF + n]


def layout(n_sources, n_mics, size, *, spacing=0.05, distance=1.5, seed=0):
    """Default geometry: a linear microphone array at the room's centre, sources on an arc.

    The sources are ``distance`` metres in front of the array, spread from
    -60 to 60 degrees; each source's angle is moved by a random -10 to 10 degrees.

    Parameters
    ----------
    n_sources : int
    n_mics : int
    size : sequence of 3 floats
        The room's length, width and height, in metres.
    spacing : float
        Distance between neighbouring microphones, in metres.
    distance : float
        Distance from the array's centre to the sources, in metres.
    seed : int
        Seed of the random angle offsets.

    Returns
    -------
    sources : ndarray, shape (n_sources, 3)
        Source positions, in metres.
    mics : ndarray, shape (n_mics, 3)
        Microphone positions, in metres.

    Raises
    ------
    CocktailError
        When a microphone or source falls outside the room.
    """
    size = np.asarray(size, float)
    rng = np.random.default_rng(seed)
    centre = size / 2
    mics = np.array([centre + [spacing * (i - (n_mics - 1) / 2), 0, 0] for i in range(n_mics)])
    angles = np.deg2rad(np.linspace(-60, 60, n_sources) + rng.uniform(-10, 10, n_sources))
    sources = np.array([centre + distance * np.array([np.sin(a), np.cos(a), 0]) for a in angles])
    for p in np.vstack([mics, sources]):
        if np.any(p <= 0) or np.any(p >= size):
            raise CocktailError(
                f"position {np.round(p, 2).tolist()} m is outside the "
                f"{size[0]:g} x {size[1]:g} x {size[2]:g} m room"
            )
    return sources, mics


def room_responses(
    n_sources, n_mics, rt60, rate, *, size=(6.0, 5.0, 3.0), spacing=0.05, distance=1.5, seed=0
):
    """Responses (n_mics, n_sources, taps) of the default layout, and the positions.

    Parameters
    ----------
    n_sources : int
    n_mics : int
    rt60 : float
        Reverberation time, in seconds.
    rate : int
        Sample rate, in Hz.
    size, spacing, distance, seed
        As :func:`layout`.

    Returns
    -------
    H : ndarray, shape (n_mics, n_sources, n_taps)
        The impulse responses, n_taps = RT60 in samples plus 2 * SINC_HALF.
    sources : ndarray, shape (n_sources, 3)
        Source positions, in metres.
    mics : ndarray, shape (n_mics, 3)
        Microphone positions, in metres.

    Raises
    ------
    CocktailError
        When ``rt60`` is not a positive number, or as :func:`layout` and
        :func:`impulse_response`.
    """
    if not rt60 > 0:
        raise CocktailError(
            f"the reverberation time must be a positive number of seconds, got {rt60}"
        )
    sources, mics = layout(n_sources, n_mics, size, spacing=spacing, distance=distance, seed=seed)
    n = int(np.ceil(rt60 * rate)) + 2 * SINC_HALF
    H = np.array([[impulse_response(s, m, size, rt60, rate, n) for s in sources] for m in mics])
    return H, sources, mics
