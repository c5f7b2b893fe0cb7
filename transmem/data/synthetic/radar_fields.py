"""Generated radar echoes, the offline stand-ins of the precipitation nowcasting benchmark (paper section 4.3):
``radar-guangzhou14-synth``, ``radar-guangzhou16-synth`` (sources) and ``radar-beijing-synth`` (target). The reader of
real radar data is transmem.data.readers.radar; the pixel <-> dBZ conventions are transmem.data.radar_scale.

The paper's Guangzhou/Beijing radar data is not public, so three presets simulate reflectivity (dBZ) over a fixed
256 km x 256 km domain (1 km pixels natively, 256x256, like the paper's frames) every 6 minutes (the volume-scan
interval of China's S-band CINRAD radars, and the paper's), 20 frames (10 -> 10, one hour ahead).

Model, in linear reflectivity Z = 10^(dBZ/10) (mm^6 m^-3), summed over components, then back to dBZ:

* stratiform rain: a Gaussian random field with a power-law spectrum (power ~ k^-3 between ~16 km and ~200 km;
  rain fields show power-law spectra with exponents near 3, the basis of the STEPS nowcasting scheme, Seed 2003),
  advected by the steering wind and evolving as a per-wavenumber AR(1) process whose decorrelation time grows
  with the scale (about 60 min at 30 km, proportional to the wavelength: the lifetime of precipitation patterns
  grows with their size, Venugopal et al. 1999, Germann & Zawadzki 2002), synthesised at 8 km on a periodic
  512 km grid (so nothing wraps into view within two hours) and interpolated to the frame. Thresholded at the
  quantile that gives the sequence's rain-area fraction, and mapped to 5 dBZ at the edge rising to a peak of
  28-38 dBZ (stratiform rain is mostly 20-35 dBZ; 40 dBZ is the usual convective threshold, Steiner, Houze &
  Yuter 1995);
* convective cells: elliptical Gaussian reflectivity cores, sigma 1.5-7 km (cores ~2-20 km across), peak
  35-60 dBZ (convective cores reach 40-60 dBZ), lifetimes 20-60 min (ordinary single cells live ~30-60 min,
  Byers & Braham 1949; most radar-tracked cells live less than an hour, e.g. Dixon & Wiener 1993), growing then
  decaying (Z ~ peak * (4 tau (1 - tau))^3 for the life fraction tau, size following), born in clusters (scattered
  or along lines, as multicell storms and squall lines) and moving with the steering wind plus a 1.5 m/s
  per-cell deviation;
* every cluster also carries a broad weak shield (sigma 10-30 km, peak 20-30 dBZ, made ragged by the stratiform
  field: +-6 dB per standard deviation), the stratiform/anvil region of a convective system;
* the steering wind (4-20 m/s by preset; storms move roughly with the mean 850-500 hPa wind) and its direction
  are drawn per sequence; echoes below 5 dBZ are treated as no echo (p = 0).

For rain rates: Marshall-Palmer Z = 200 R^1.6 (Marshall & Palmer 1948) gives 20 dBZ ~ 0.65 mm/h,
35 dBZ ~ 5.6 mm/h, 50 dBZ ~ 49 mm/h.

Presets (parameter ranges are drawn uniformly per sequence; see `CLIMATES`):

* ``radar-guangzhou14-synth``: humid subtropical, rainy-season sequences dominated by frontal and organised
  convection ("pre-summer" regime): wide stratiform shields (10-45 % rain area), lines of cells, 8-16 m/s winds
  blowing toward the east-northeast, 10 % dry sequences.
* ``radar-guangzhou16-synth``: summer regime: scattered, more numerous and more intense airmass convection (peaks up
  to 60 dBZ), less stratiform rain (4-25 %), weak 4-10 m/s winds of any direction, 12 % dry sequences.
* ``radar-beijing-synth``: semi-arid target (Beijing gets ~550 mm a year, mostly in June-August, against
  ~1,700-1,800 mm in Guangzhou): 60 % dry sequences (no echo >= 20 dBZ; some weak echoes below 18 dBZ),
  and when wet, little stratiform rain (2-20 %), few small clusters, 8-20 m/s westerly / north-westerly winds.

Frames are mapped to [0, 1] with the HKO-7 scale, p = (dBZ + 10) / 70 clipped, and quantised to 8 bits like
HKO-7's PNGs (``info["dbz"] = {"scale": 70.0, "offset": -10.0}``). Options: ``frame_size`` (default 256; the
physical domain stays 256 km, so smaller frames are coarser: every Gaussian is averaged over the pixel area in
linear Z, and the stratiform field is synthesised at 4 km and interpolated), ``seq_len`` (20), ``t_in`` (10).
Default sizes 500 train / 100 valid / 200 test sequences (the paper's Beijing set: 55,466 / 3,000 / 12,711
frames); at 256x256 that is 2.6 GB of float32 for the training split, so use ``frame_size=64`` on CPU.
Sequence i of a split is drawn from ``np.random.default_rng([preset, split, seed, i])``: the seed fixes the
content, splits differ, and a smaller size is a prefix of a larger one.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from functools import partial

import numpy as np

from transmem.data.base import SPLITS, SequenceData
from transmem.data.factory import Common, dataset
from transmem.data.options import int_at_least, seq_len_and_t_in
from transmem.data.radar_scale import HKO7, SEQ_LEN, STEP_MIN, T_IN
from transmem.data.splits import resolve_size

DOMAIN_KM = 256.0
NATIVE_SIZE = 256
MIN_DBZ = 5.0  # weaker echoes count as no echo
SHIELD_SIGMA, SHIELD_PEAK, SHIELD_TEXTURE_DB = (10.0, 30.0), (20.0, 30.0), 6.0  # km, dBZ, dB per std
SYNTH_SIZES = {"train": 500, "valid": 100, "test": 200}
MS_TO_KM_PER_MIN = 0.06

# stratiform field: periodic grid of FIELD_KM at FIELD_RES km, of which the central DOMAIN_KM is seen; spectrum
# power ~ k^-SPECTRAL_SLOPE between wavelengths 1/K_LARGE and 1/K_SMALL km; decorrelation TAU_30KM min at 30 km
FIELD_KM, FIELD_RES = 512.0, 8.0
SPECTRAL_SLOPE, K_LARGE, K_SMALL, TAU_30KM = 3.0, 1.0 / 200.0, 1.0 / 16.0, 60.0


@dataclass(frozen=True)
class Climate:
    """Per-sequence parameter ranges of one preset (uniform draws unless noted)."""

    name: str
    description: str
    p_dry: float  # probability of a dry sequence (no echo >= 20 dBZ)
    rain_area: tuple[float, float]  # stratiform rain-area fraction of the domain in wet sequences
    strat_peak: tuple[float, float]  # dBZ at the heart of the stratiform rain
    clusters: float  # mean number of convective clusters per wet sequence (Poisson)
    cells: float  # mean number of cells per cluster (Poisson, + 1)
    line_fraction: float  # probability that a cluster is a line rather than scattered
    cell_peak: tuple[float, float]  # dBZ
    cell_sigma: tuple[float, float]  # km
    lifetime: tuple[float, float]  # min
    wind: tuple[float, float]  # m/s
    wind_toward: float  # degrees, direction the storms move toward (0 = east, 90 = north)
    wind_spread: float  # degrees around wind_toward (uniform half-width)


CLIMATES = {
    "radar-guangzhou14-synth": Climate(
        "radar-guangzhou14-synth",
        "Guangzhou-2014-like radar echoes: wet, frontal and organised convection (256 km, 6 min, 10->10)",
        p_dry=0.10, rain_area=(0.10, 0.45), strat_peak=(30, 38), clusters=2.5, cells=6, line_fraction=0.5,
        cell_peak=(38, 55), cell_sigma=(2.0, 7.0), lifetime=(20, 60), wind=(8, 16), wind_toward=30, wind_spread=40,
    ),
    "radar-guangzhou16-synth": Climate(
        "radar-guangzhou16-synth",
        "Guangzhou-2016-like radar echoes: wet, scattered intense summer convection (256 km, 6 min, 10->10)",
        p_dry=0.12, rain_area=(0.04, 0.25), strat_peak=(28, 35), clusters=4.0, cells=6, line_fraction=0.2,
        cell_peak=(40, 60), cell_sigma=(1.5, 6.0), lifetime=(20, 60), wind=(4, 10), wind_toward=0, wind_spread=180,
    ),
    "radar-beijing-synth": Climate(
        "radar-beijing-synth",
        "Beijing-like radar echoes (target): arid, many dry sequences, sparse convection (256 km, 6 min, 10->10)",
        p_dry=0.60, rain_area=(0.02, 0.20), strat_peak=(28, 34), clusters=1.2, cells=4, line_fraction=0.3,
        cell_peak=(35, 55), cell_sigma=(1.5, 5.0), lifetime=(20, 60), wind=(8, 20), wind_toward=-20, wind_spread=40,
    ),
}


def _spectral_filter(n: int, res_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Amplitude filter, AR(1) coefficients per step and one-step advection-free grid of an n x n rfft grid.

    Returns (amp, rho, (kx, ky)) with kx, ky in cycles/km.
    """
    ky = np.fft.fftfreq(n, d=res_km)[:, None]
    kx = np.fft.rfftfreq(n, d=res_km)[None, :]
    k = np.sqrt(kx**2 + ky**2)
    amp = (k**2 + K_LARGE**2) ** (-SPECTRAL_SLOPE / 4.0) * np.exp(-((k / K_SMALL) ** 2))  # power ~ k^-slope
    amp[0, 0] = 0.0
    wavelength = 1.0 / np.maximum(k, 1e-6)
    tau = TAU_30KM * np.minimum(wavelength, FIELD_KM) / 30.0  # min, proportional to the scale
    return amp, np.exp(-STEP_MIN / tau), (kx, ky)


_FILTERS: dict[int, tuple] = {}


def _stratiform(rng: np.random.Generator, seq_len: int, wind_km_min: np.ndarray) -> np.ndarray:
    """Unit-variance Gaussian field (T, m, m) over the 256 km domain at FIELD_RES km, m = 256 / FIELD_RES.

    Power-law spectrum; each Fourier mode follows an AR(1) process in a frame moving with the wind (Lagrangian
    persistence): c_t = shift * (rho c_{t-1}) + sqrt(1 - rho^2) e_t, with shift the one-step advection phase.
    """
    n = int(FIELD_KM / FIELD_RES)
    if n not in _FILTERS:
        _FILTERS[n] = _spectral_filter(n, FIELD_RES)
    amp, rho, (kx, ky) = _FILTERS[n]
    shift = np.exp(-2j * np.pi * (kx * wind_km_min[0] + ky * wind_km_min[1]) * STEP_MIN) * rho
    innovation = np.sqrt(1.0 - rho**2)
    white = rng.standard_normal((seq_len, 2) + rho.shape)
    noise = white[:, 0] + 1j * white[:, 1]
    coeff = np.empty_like(noise)
    coeff[0] = noise[0]
    for t in range(1, seq_len):
        coeff[t] = shift * coeff[t - 1] + innovation * noise[t]
    field = np.fft.irfft2(coeff * amp, s=(n, n))
    m = int(DOMAIN_KM / FIELD_RES)
    lo = (n - m) // 2
    field = field[:, lo : lo + m, lo : lo + m]
    return field / field.std()


def _interp_axis(field: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation between pixel centres along one axis (edges clamped), n -> size samples."""
    n = field.shape[axis]
    pos = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    shape = [1] * field.ndim
    shape[axis] = size
    w = (pos - lo).reshape(shape).astype(field.dtype)
    return np.take(field, lo, axis=axis) * (1 - w) + np.take(field, hi, axis=axis) * w


def _resample(field: np.ndarray, size: int) -> np.ndarray:
    """(T, n, n) -> (T, size, size): linear interpolation when enlarging, block means when shrinking."""
    n = field.shape[-1]
    if size == n:
        return field
    if size < n and n % size == 0:
        f = n // size
        return field.reshape(field.shape[0], size, f, size, f).mean(axis=(2, 4))
    return _interp_axis(_interp_axis(field, size, 1), size, 2)


def _gaussians(
    centres: np.ndarray, sigma: np.ndarray, coords: np.ndarray, pixel: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-averaged 1-D Gaussians: profiles (..., n_pixels) and the peak factor sigma / sigma_eff.

    A Gaussian averaged over a pixel of width `pixel` is close to a Gaussian of variance sigma^2 + pixel^2 / 12
    with the same integral; that keeps the linear-Z mass of small cells at coarse frame sizes.
    """
    eff = np.sqrt(sigma**2 + pixel**2 / 12.0)
    d = coords - centres[..., None]
    return np.exp(-0.5 * (d / eff[..., None]) ** 2), sigma / eff


def _outer_sum(weight: np.ndarray, gy: np.ndarray, gx: np.ndarray) -> np.ndarray:
    """sum_n weight[t, n] * gy[t, n, :, None] * gx[t, n, None, :] as one batched matrix product, (T, H, W)."""
    left = (weight[:, :, None] * gy).astype(np.float32)
    # einsum's own single-threaded loop: the multi-threaded BLAS products (numpy's and torch's) were 4-100x slower
    # for these small matrices on a busy 2-core machine
    return np.einsum("tny,tnx->tyx", left, gx.astype(np.float32))


def render_radar(climate: Climate, rng: np.random.Generator, seq_len: int, frame_size: int) -> np.ndarray:
    """One sequence of reflectivity (seq_len, frame_size, frame_size) in dBZ; -inf where there is no echo."""
    pixel = DOMAIN_KM / frame_size
    coords = (np.arange(frame_size) + 0.5) * pixel  # km
    minutes = STEP_MIN * np.arange(seq_len)
    speed = rng.uniform(*climate.wind) * MS_TO_KM_PER_MIN
    toward = math.radians(climate.wind_toward + rng.uniform(-climate.wind_spread, climate.wind_spread))
    wind = np.array([speed * math.cos(toward), -speed * math.sin(toward)])  # km/min in (x right, y down) pixels
    dry = rng.random() < climate.p_dry
    z = np.zeros((seq_len, frame_size, frame_size), dtype=np.float32)

    # stratiform rain: threshold the (interpolated) Gaussian field at the quantile of the sequence's rain area
    g = _resample(_stratiform(rng, seq_len, wind), frame_size).astype(np.float32)
    if dry:
        area, peak = rng.uniform(0.0, 0.06), rng.uniform(8.0, 17.0)  # at most weak echoes
    else:
        area, peak = rng.uniform(*climate.rain_area), rng.uniform(*climate.strat_peak)
    if area > 0.002:
        g0 = np.quantile(g[0], 1.0 - area)
        gmax = max(np.quantile(g[0], 0.999), g0 + 0.5)
        x = np.clip((g - np.float32(g0)) * np.float32(1.0 / (gmax - g0)), 0.0, 1.2)
        dbz_s = np.float32(MIN_DBZ / 10.0) + np.float32((peak - MIN_DBZ) / 10.0) * np.sqrt(x)
        z += np.where(g > g0, np.power(np.float32(10.0), dbz_s), np.float32(0.0))

    if not dry:
        # convective clusters: (centre, velocity) of every cell and of each cluster's broad shield
        n_clusters = max(1, rng.poisson(climate.clusters))
        centres_x, centres_y, sig_x, sig_y, peaks, births, lives, vx, vy, shape_pow = ([] for _ in range(10))
        span = minutes[-1]
        for _ in range(n_clusters):
            # cluster centre at the middle of the sequence, anywhere in a margin around the domain
            cx, cy = rng.uniform(-30, DOMAIN_KM + 30, 2)
            line = rng.random() < climate.line_fraction
            orient = rng.uniform(0, math.pi)
            length = rng.uniform(60, 150) if line else 0.0
            spread = rng.uniform(10, 35)
            n_cells = rng.poisson(climate.cells) + 1
            for _c in range(n_cells):
                if line:
                    along, across = rng.uniform(-length / 2, length / 2), rng.normal(0, 4)
                    ox = along * math.cos(orient) - across * math.sin(orient)
                    oy = along * math.sin(orient) + across * math.cos(orient)
                else:
                    ox, oy = rng.normal(0, spread, 2)
                sigma = rng.uniform(*climate.cell_sigma)
                ratio = rng.uniform(1.0, 1.8)
                if rng.random() < 0.5:
                    sig_x.append(sigma * ratio), sig_y.append(sigma)
                else:
                    sig_x.append(sigma), sig_y.append(sigma * ratio)
                life = rng.uniform(*climate.lifetime)
                lives.append(life)
                births.append(rng.uniform(-life, span))
                peaks.append(rng.uniform(*climate.cell_peak))
                vx.append(wind[0] + rng.normal(0, 1.5 * MS_TO_KM_PER_MIN))
                vy.append(wind[1] + rng.normal(0, 1.5 * MS_TO_KM_PER_MIN))
                centres_x.append(cx + ox), centres_y.append(cy + oy)
                shape_pow.append(3.0)
            # the cluster's shield: broad, weak, long-lived
            s = rng.uniform(*SHIELD_SIGMA)
            sig_x.append(s * rng.uniform(1.0, 1.6)), sig_y.append(s)
            lives.append(rng.uniform(3 * span, 6 * span))
            births.append(rng.uniform(-lives[-1] + span, 0.0))
            peaks.append(rng.uniform(*SHIELD_PEAK))
            vx.append(wind[0]), vy.append(wind[1])
            centres_x.append(cx), centres_y.append(cy)
            shape_pow.append(1.0)
        mid = span / 2
        cxs, cys = np.array(centres_x), np.array(centres_y)
        vxs, vys = np.array(vx), np.array(vy)
        births, lives = np.array(births), np.array(lives)
        tau = (minutes[:, None] - births[None, :]) / lives[None, :]  # (T, n) life fraction
        alive = (tau > 0) & (tau < 1)
        shape = np.where(alive, 4 * tau * (1 - tau), 0.0)
        amp = np.where(alive, shape ** np.array(shape_pow)[None, :], 0.0) * 10.0 ** (np.array(peaks) / 10.0)
        grow = 0.6 + 0.4 * shape  # cells swell while they mature
        sx, sy = np.array(sig_x)[None, :] * grow, np.array(sig_y)[None, :] * grow
        px = cxs[None, :] + vxs[None, :] * (minutes[:, None] - mid)
        py = cys[None, :] + vys[None, :] * (minutes[:, None] - mid)
        gx, fx = _gaussians(px, sx, coords, pixel)  # (T, n, W)
        gy, fy = _gaussians(py, sy, coords, pixel)  # (T, n, H)
        weight = amp * fx * fy
        shield = np.array(shape_pow) == 1.0
        z += _outer_sum(weight[:, ~shield], gy[:, ~shield], gx[:, ~shield])
        # shields are ragged: modulated by the stratiform field (lognormal, SHIELD_TEXTURE_DB dB per std)
        texture = np.power(np.float32(10.0), np.float32(SHIELD_TEXTURE_DB / 10.0) * g)
        z += texture * _outer_sum(weight[:, shield], gy[:, shield], gx[:, shield])

    with np.errstate(divide="ignore"):
        dbz = np.float32(10.0) * np.log10(z)
    return np.where(dbz >= MIN_DBZ, dbz, np.float32(-np.inf))


def generate(name: str, split: str, n: int, *, seed: int = 0, frame_size: int = NATIVE_SIZE,
             seq_len: int = SEQ_LEN) -> np.ndarray:
    """n sequences of a preset as uint8 HKO-7 pixels (n, seq_len, frame_size, frame_size)."""
    climate = CLIMATES[name]
    key = [zlib.crc32(name.encode()), SPLITS.index(split), int(seed)]
    out = np.empty((n, seq_len, frame_size, frame_size), dtype=np.uint8)
    for i in range(n):
        dbz = render_radar(climate, np.random.default_rng(key + [i]), seq_len, frame_size)
        pixel = (dbz - np.float32(HKO7["offset"])) * np.float32(255.0 / HKO7["scale"])  # -inf -> 0 after clipping
        out[i] = np.rint(np.clip(pixel, 0.0, 255.0)).astype(np.uint8)
    return out


def radar_split(
    climate: Climate, split: str, common: Common, *, frame_size: int = NATIVE_SIZE, seq_len: int = SEQ_LEN,
    t_in: int = T_IN,
) -> SequenceData:
    """One split of a preset's generated radar echoes; see the module docstring."""
    name = climate.name
    fs = int_at_least(frame_size, "frame_size", name, 8)
    sl, ti = seq_len_and_t_in(seq_len, t_in, name)
    n = resolve_size(split, common.size, common.fraction, SYNTH_SIZES[split])
    u8 = generate(name, split, n, seed=common.seed, frame_size=fs, seq_len=sl)
    frames = u8.astype(np.float32)[:, :, None]
    del u8
    frames /= 255.0
    info = {
        "dbz": dict(HKO7),
        "mapping": "hko7",
        "interval_min": STEP_MIN,
        "domain_km": DOMAIN_KM,
        "km_per_pixel": DOMAIN_KM / fs,
        "generator": name,
        "uint8_exact": True,
    }
    return SequenceData(name, split, frames, ti, sl - ti, info)


for _climate in CLIMATES.values():
    dataset(_climate.name, _climate.description)(partial(radar_split, _climate))
del _climate
