"""Audio sources, the capture ring buffer and streaming resampling to 16 kHz.

Every source delivers audio through one callback with the signature of sounddevice's
``InputStream`` callback, ``(indata, frames, time, status)``. The microphone is a real
``sounddevice.InputStream``; the WAV sources are a named fake of the sound card that calls the
same callback from a thread at the block rate. Everything after the callback (downmix, ring
buffer, resampling) is therefore one path, whichever source feeds it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np

from .options import SAMPLE_RATE, AudioOptions

logger = logging.getLogger("shadowpeft_ros")

AudioCallback = Callable[[np.ndarray, int, object, object], None]
WAV_SUFFIXES = (".wav", ".wave", ".flac", ".ogg")


class AudioSourceError(RuntimeError):
    """An audio source cannot be opened or read; the message says what to fix."""


def read_wav(path) -> Tuple[np.ndarray, int]:
    """Read a sound file as float32 frames x channels and its rate, raising AudioSourceError when unreadable."""
    import soundfile

    path = Path(path)
    if not path.exists():
        raise AudioSourceError(f"audio file not found: {path}")
    if not path.is_file():
        raise AudioSourceError(f"not a file: {path}")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError or TypeError by format
        raise AudioSourceError(f"cannot read audio file {path}: {exc} (expected a WAV, FLAC or OGG file)") from None
    if data.shape[0] == 0:
        raise AudioSourceError(f"audio file {path} holds no samples")
    return data, int(rate)


def downmix(block: np.ndarray) -> np.ndarray:
    """Return a mono float32 copy of a frames x channels block (channel mean)."""
    block = np.asarray(block)
    if block.dtype.kind in "iu":
        scale = float(np.iinfo(block.dtype).max) + 1.0
        block = block.astype(np.float32) / scale
    if block.ndim == 1:
        return block.astype(np.float32, copy=True)
    if block.shape[1] == 1:
        return block[:, 0].astype(np.float32, copy=True)
    return block.mean(axis=1, dtype=np.float32)


class StreamResampler:
    """Resample an unbounded stream block by block with scipy's resample_poly, seamlessly across blocks.

    resample_poly filters each call as if the signal were zero outside it. Keeping ``pad`` input
    samples of history on the left and holding back ``pad`` samples of look-ahead on the right
    makes every output sample see exactly the input it would see in one whole-signal call.
    """

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE):
        ratio = Fraction(out_rate, in_rate)
        self.up, self.down = ratio.numerator, ratio.denominator
        self.in_rate, self.out_rate = in_rate, out_rate
        half_taps_in = 10 * max(self.up, self.down) / self.up  # resample_poly's default filter half-length
        self.pad = self.down * math.ceil(half_taps_in / self.down)
        self._buf = np.zeros(self.pad, dtype=np.float32)

    @property
    def identity(self) -> bool:
        return self.up == 1 and self.down == 1

    def process(self, x: np.ndarray) -> np.ndarray:
        """Return the output samples that ``x`` completes (latency: ``pad`` input samples)."""
        if self.identity:
            return x.astype(np.float32, copy=False)
        from scipy.signal import resample_poly

        self._buf = np.concatenate([self._buf, x.astype(np.float32, copy=False)])
        n = ((len(self._buf) - 2 * self.pad) // self.down) * self.down
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        y = resample_poly(self._buf[: n + 2 * self.pad], self.up, self.down)
        first = self.pad * self.up // self.down
        out = y[first: first + n * self.up // self.down].astype(np.float32)
        self._buf = self._buf[n:]
        return out

    def flush(self) -> np.ndarray:
        """Return the held-back tail, as if the stream continued in silence."""
        if self.identity:
            return np.zeros(0, dtype=np.float32)
        held = len(self._buf) - self.pad
        tail = self.process(np.zeros(self.pad + self.down, dtype=np.float32))
        return tail[: int(round(held * self.up / self.down))]


class RingBuffer:
    """A fixed-size single-producer ring of mono samples with absolute positions; overflow drops the oldest."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, dtype=np.float32)
        self._written = 0  # absolute count of samples ever written
        self._read = 0
        self.dropped = 0
        self._cond = threading.Condition()

    def write(self, samples: np.ndarray) -> None:
        """Append samples (called from the audio callback: never blocks on the reader)."""
        n = len(samples)
        if n == 0:
            return
        skipped = max(0, n - self.capacity)
        if skipped:
            samples = samples[skipped:]
            n = self.capacity
        with self._cond:
            self._written += skipped  # written and at once overwritten: counted as dropped below
            start = self._written % self.capacity
            first = min(n, self.capacity - start)
            self._data[start:start + first] = samples[:first]
            self._data[:n - first] = samples[first:]
            self._written += n
            overflow = self._written - self._read - self.capacity
            if overflow > 0:
                self.dropped += overflow
                self._read += overflow
            self._cond.notify_all()

    def read(self, timeout: float = 0.1) -> np.ndarray:
        """Return everything unread, waiting up to ``timeout`` seconds for something to arrive."""
        with self._cond:
            if self._written == self._read:
                self._cond.wait(timeout)
            n = self._written - self._read
            if n == 0:
                return np.zeros(0, dtype=np.float32)
            start = self._read % self.capacity
            first = min(n, self.capacity - start)
            out = np.concatenate([self._data[start:start + first], self._data[:n - first]])
            self._read += n
            return out

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def available(self) -> int:
        with self._cond:
            return self._written - self._read


class AudioSource:
    """Base of the sources: ``start(callback)`` makes audio flow into the sounddevice-style callback."""

    label = "audio"
    sample_rate: int = SAMPLE_RATE
    speed: float = 1.0
    finite = False

    def __init__(self):
        self.exhausted = threading.Event()

    def start(self, callback: AudioCallback) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def locate(self, stream_s: float) -> Tuple[str, float]:
        """Return the label of the audio at ``stream_s`` seconds into the stream and the offset within it."""
        return self.label, stream_s


def describe_devices(devices) -> str:
    """Return a readable list of sounddevice's devices, or say that there are none."""
    if len(devices) == 0:
        return "sounddevice.query_devices() lists no audio devices at all (no sound card on this machine)"
    lines = []
    for index, dev in enumerate(devices):
        lines.append(f"  {index}: {dev['name']} (inputs {dev['max_input_channels']}, "
                     f"outputs {dev['max_output_channels']}, {dev['default_samplerate']:.0f} Hz)")
    return "available devices (sounddevice.query_devices()):\n" + "\n".join(lines)


class MicrophoneSource(AudioSource):
    """A live microphone through a sounddevice InputStream."""

    label = "microphone"

    def __init__(self, device: str = "", sample_rate: int = 0, block_size: int = 1024, channels: int = 1):
        super().__init__()
        try:
            import sounddevice
        except OSError as exc:  # PortAudio library missing
            raise AudioSourceError(f"sounddevice cannot load PortAudio ({exc}); install libportaudio2") from None
        self._sd = sounddevice
        devices = sounddevice.query_devices()
        inputs = [i for i, d in enumerate(devices) if d["max_input_channels"] > 0]
        if not inputs:
            raise AudioSourceError("no microphone: there is no audio input device. " + describe_devices(devices))
        if device == "":
            try:
                index = sounddevice.default.device[0]
            except Exception:
                index = -1
            index = index if index in inputs else inputs[0]
        elif device.strip().lstrip("-").isdigit():
            index = int(device)
            if index not in inputs:
                raise AudioSourceError(f"audio device {index} is not an input device. " + describe_devices(devices))
        else:
            matches = [i for i in inputs if device.lower() in devices[i]["name"].lower()]
            if not matches:
                raise AudioSourceError(f"no input device matches {device!r}. " + describe_devices(devices))
            index = matches[0]
        info = devices[index]
        self.device_index = index
        self.sample_rate = int(sample_rate or info["default_samplerate"])
        self.channels = min(channels, int(info["max_input_channels"]))
        self.block_size = block_size
        self._stream = None
        self.label = "microphone"

    def start(self, callback: AudioCallback) -> None:
        try:
            self._stream = self._sd.InputStream(device=self.device_index, samplerate=self.sample_rate,
                                                blocksize=self.block_size, channels=self.channels,
                                                dtype="float32", callback=callback)
            self._stream.start()
        except Exception as exc:
            raise AudioSourceError(f"cannot open input device {self.device_index} at {self.sample_rate} Hz: {exc}. "
                                   + describe_devices(self._sd.query_devices())) from None

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


class FakeSoundCard(AudioSource):
    """A named fake of the sound card: plays WAV files into the capture callback from a thread, at the block rate.

    The real card calls the callback once per block as the block is captured; so does this, one
    block every ``block_size / sample_rate / speed`` seconds, on an absolute schedule so that
    playback does not drift. Files at another rate than the card's are converted on loading,
    as a card would only ever deliver its own rate.
    """

    finite = True

    def __init__(self, paths: List[Path], sample_rate: int = 0, block_size: int = 1024, speed: float = 1.0,
                 gap_s: float = 1.0):
        super().__init__()
        if not paths:
            raise AudioSourceError("no audio files to play")
        self.paths = [Path(p) for p in paths]
        first, first_rate = read_wav(self.paths[0])
        self.sample_rate = int(sample_rate or first_rate)
        self.block_size = block_size
        self.speed = speed
        self.gap_s = gap_s
        self._first = (first, first_rate)
        self._segments: List[Tuple[float, str]] = []
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self.label = f"file:{self.paths[0]}" if len(self.paths) == 1 else f"dir:{self.paths[0].parent}"
        self.error: Optional[str] = None

    def _load(self, index: int) -> np.ndarray:
        data, rate = self._first if index == 0 else read_wav(self.paths[index])
        if rate != self.sample_rate:
            from scipy.signal import resample_poly

            ratio = Fraction(self.sample_rate, rate)
            logger.info("converting %s from %d Hz to the card's %d Hz", self.paths[index], rate, self.sample_rate)
            data = resample_poly(data, ratio.numerator, ratio.denominator, axis=0).astype(np.float32)
        return data

    def locate(self, stream_s: float) -> Tuple[str, float]:
        label, start = f"file:{self.paths[0]}", 0.0
        for seg_start, seg_label in self._segments:
            if seg_start <= stream_s + 1e-9:
                label, start = seg_label, seg_start
        return label, stream_s - start

    def start(self, callback: AudioCallback) -> None:
        self._thread = threading.Thread(target=self._play, args=(callback,), name="fake-sound-card", daemon=True)
        self._thread.start()

    def _play(self, callback: AudioCallback) -> None:
        t0 = time.monotonic()
        played = 0
        try:
            for index, path in enumerate(self.paths):
                try:
                    data = self._load(index)
                except AudioSourceError as exc:
                    # One bad file in a directory must not end the session; it is skipped loudly.
                    logger.error("skipping %s", exc)
                    self.error = str(exc)
                    continue
                self._segments.append((played / self.sample_rate, f"file:{path}"))
                gap = np.zeros((int(round(self.gap_s * self.sample_rate)), data.shape[1]), dtype=np.float32)
                data = np.concatenate([data, gap])
                for start in range(0, len(data), self.block_size):
                    if self._stop.is_set():
                        return
                    block = data[start:start + self.block_size]
                    if len(block) < self.block_size:
                        block = np.concatenate([block, np.zeros((self.block_size - len(block), block.shape[1]),
                                                                dtype=np.float32)])
                    # The card hands a block over once it has been fully captured.
                    deadline = t0 + (played + self.block_size) / self.sample_rate / self.speed
                    delay = deadline - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    callback(block, self.block_size, None, None)
                    played += self.block_size
        finally:
            self.exhausted.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class LoopbackSoundCard(AudioSource):
    """A named fake of a sound card whose microphone hears its own loudspeaker, and a person in the room.

    It captures forever, like a microphone: silence (or a noise floor), plus every sound handed to
    ``play`` (the robot's reply, through ``Speaker(player=card.play)``) or ``say_into_room`` (a
    person speaking), mixed sample by sample from the block after the call on. Blocks go to the
    callback on the same absolute schedule as ``FakeSoundCard``.
    """

    label = "microphone"

    def __init__(self, sample_rate: int = SAMPLE_RATE, block_size: int = 512, echo_gain: float = 1.0,
                 noise_floor: float = 0.0):
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.block_size = block_size
        self.echo_gain = echo_gain
        self.noise_floor = noise_floor
        self._sounds: List[List] = []  # [samples at the card's rate, next index, done event]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.blocks = 0

    def _to_card(self, audio: np.ndarray, rate: int) -> np.ndarray:
        audio = downmix(np.asarray(audio, dtype=np.float32))
        if rate != self.sample_rate:
            from scipy.signal import resample_poly

            ratio = Fraction(self.sample_rate, rate)
            audio = resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)
        return audio

    def _add(self, audio: np.ndarray, rate: int, gain: float) -> threading.Event:
        done = threading.Event()
        with self._lock:
            self._sounds.append([self._to_card(audio, rate) * gain, 0, done])
        return done

    def play(self, audio: np.ndarray, rate: int) -> None:
        """Play through the loudspeaker until done; the microphone hears it at ``echo_gain``."""
        done = self._add(audio, rate, self.echo_gain)
        while not done.wait(0.05):
            if self._stop.is_set():
                return

    def say_into_room(self, audio: np.ndarray, rate: int) -> threading.Event:
        """Let a person speak now (returns at once; the event is set once it has been heard)."""
        return self._add(audio, rate, 1.0)

    def _mix(self) -> np.ndarray:
        block = np.zeros(self.block_size, dtype=np.float32)
        if self.noise_floor:
            block += np.random.default_rng(self.blocks).normal(0, self.noise_floor, self.block_size).astype(np.float32)
        with self._lock:
            for sound in self._sounds:
                samples, pos, done = sound
                part = samples[pos:pos + self.block_size]
                block[:len(part)] += part
                sound[1] = pos + len(part)
                if sound[1] >= len(samples):
                    done.set()
            self._sounds = [s for s in self._sounds if not s[2].is_set()]
        return np.clip(block, -1.0, 1.0)

    def start(self, callback: AudioCallback) -> None:
        self._thread = threading.Thread(target=self._run, args=(callback,), name="loopback-sound-card", daemon=True)
        self._thread.start()

    def _run(self, callback: AudioCallback) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            deadline = t0 + (self.blocks + 1) * self.block_size / self.sample_rate
            delay = deadline - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            block = self._mix()
            self.blocks += 1
            callback(block[:, None], self.block_size, None, None)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


def list_wavs(directory: Path) -> List[Path]:
    """Return the sound files of a directory in name order."""
    return sorted(p for p in Path(directory).iterdir() if p.is_file() and p.suffix.lower() in WAV_SUFFIXES)


def open_source(options: AudioOptions) -> AudioSource:
    """Open the source that ``options.source`` names: 'mic', a WAV file or a directory of WAV files."""
    if options.source == "mic":
        return MicrophoneSource(options.device, options.sample_rate, options.block_size, options.channels)
    path = Path(options.source).expanduser()
    if path.is_dir():
        files = list_wavs(path)
        if not files:
            raise AudioSourceError(f"directory {path} holds no audio files ({', '.join(WAV_SUFFIXES)})")
    elif path.exists():
        files = [path]
    else:
        raise AudioSourceError(f"audio source {options.source!r} is neither 'mic' nor an existing WAV file or "
                               f"directory")
    return FakeSoundCard(files, options.sample_rate, options.block_size, options.playback_speed, options.file_gap_s)


class AudioStream:
    """The capture path every source shares: sounddevice-style callback -> mono -> ring buffer -> 16 kHz."""

    def __init__(self, source: AudioSource, ring_seconds: float = 30.0):
        self.source = source
        self.ring = RingBuffer(int(ring_seconds * source.sample_rate))
        self.resampler = StreamResampler(source.sample_rate, SAMPLE_RATE)
        self.status_flags = 0
        self._anchor_wall: Optional[float] = None
        self._anchor_lock = threading.Lock()
        self.samples_out = 0  # 16 kHz samples delivered by read()
        self._captured = 0  # native frames delivered to the callback
        self._flushed = False

    def audio_callback(self, indata, frames, time_info, status) -> None:
        """Take one captured block (the sounddevice InputStream callback)."""
        now = time.time()
        self._captured += frames
        # The block ends now, so the stream began captured/rate earlier. A callback can only arrive
        # late, never early: the smallest such estimate is the best one.
        candidate = now - self._captured / self.source.sample_rate / self.source.speed
        with self._anchor_lock:
            if self._anchor_wall is None or candidate < self._anchor_wall:
                self._anchor_wall = candidate
        if status:
            self.status_flags += 1
            logger.warning("audio callback status: %s", status)
        self.ring.write(downmix(indata[:frames]))

    def start(self) -> None:
        self.source.start(self.audio_callback)

    def stop(self) -> None:
        self.source.stop()
        self.ring.wake()

    @property
    def exhausted(self) -> bool:
        """True when a finite source has played everything and all of it has been read."""
        return self.source.exhausted.is_set() and self.ring.available == 0 and self._flushed

    def read(self, timeout: float = 0.1) -> np.ndarray:
        """Return newly captured audio at 16 kHz (possibly empty); after the source ends, its resampler tail."""
        native = self.ring.read(timeout)
        out = self.resampler.process(native) if len(native) else np.zeros(0, dtype=np.float32)
        if (len(native) == 0 and self.source.exhausted.is_set() and self.ring.available == 0
                and not self._flushed):
            self._flushed = True
            out = np.concatenate([out, self.resampler.flush()])
        self.samples_out += len(out)
        return out

    def wall_time(self, stream_s: float) -> float:
        """Return the wall-clock time at which the audio ``stream_s`` seconds into the stream was captured.

        The mapping assumes the sound card's clock and the system clock agree; a typical 50 ppm
        drift shifts stamps by about 0.2 s per hour of continuous capture.
        """
        anchor = self._anchor_wall if self._anchor_wall is not None else time.time()
        return anchor + stream_s / self.source.speed
