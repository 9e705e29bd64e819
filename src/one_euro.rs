//! The one-euro filter (Casiez et al. 2012) exactly as MediaPipe implements
//! it (`mediapipe/util/filtering/one_euro_filter.cc`), quirks included, so
//! that smoothed output can be compared with MediaPipe's.
//!
//! It lives below both stages that use it: the pose stage damps the crop
//! feedback with it (MediaPipe's auxiliary-landmark smoothing) and the
//! motion stage smooths landmarks and the root with it.

/// Frequency (Hz) a one-euro filter assumes before it has seen two
/// timestamps, as in MediaPipe's calculator options.
pub const INITIAL_FREQUENCY_HZ: f64 = 30.0;

/// MediaPipe rejects cutoffs and frequencies at or below this.
const EPSILON: f64 = 1e-6;

/// MediaPipe keeps time in integer nanoseconds.
const NANOS_PER_SECOND: f64 = 1e9;

/// Sentinel for "no timestamp yet" (MediaPipe's `kUninitializedTimestamp`).
const UNINITIALIZED_TIME_NS: i64 = -1;

/// Parameters of a one-euro filter, in MediaPipe's naming.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneEuroParams {
    /// Cutoff (Hz) when the signal is still: lower means smoother.
    pub min_cutoff: f64,
    /// How fast the cutoff rises with speed: higher means less lag.
    pub beta: f64,
    /// Cutoff (Hz) of the low-pass on the speed estimate.
    pub derivate_cutoff: f64,
}

impl OneEuroParams {
    /// MediaPipe Tasks' pose image-landmark smoothing (pixels, value-scaled).
    pub const MEDIAPIPE_IMAGE: Self = Self {
        min_cutoff: 0.05,
        beta: 80.0,
        derivate_cutoff: 1.0,
    };

    /// MediaPipe Tasks' pose world-landmark smoothing (metres, unscaled).
    pub const MEDIAPIPE_WORLD: Self = Self {
        min_cutoff: 0.1,
        beta: 40.0,
        derivate_cutoff: 1.0,
    };

    /// Root trajectory (metres, unscaled); not a MediaPipe setting. The
    /// world preset's beta 40 stops smoothing at walking speed (cutoff
    /// ≈ 56 Hz at 1.4 m/s), yet the lifted root's depth noise is largest
    /// exactly then. Beta 2 keeps the cutoff near 3 Hz while walking (lag
    /// ≈ v/(2π·fc) ≈ 7 cm) and near 1 Hz at rest, where ±2 cm of noise is
    /// cut more than 3×.
    pub const ROOT: Self = Self {
        min_cutoff: 0.5,
        beta: 2.0,
        derivate_cutoff: 1.0,
    };

    /// MediaPipe refuses cutoffs ≤ 1e-6; rather than fail we clamp, and a
    /// non-finite beta becomes 0 (a plain low-pass), so no input can produce
    /// a filter that emits NaN.
    fn sanitized(self) -> Self {
        let cutoff = |c: f64, fallback: f64| {
            if c.is_finite() {
                c.max(EPSILON * 2.0)
            } else {
                fallback
            }
        };
        Self {
            min_cutoff: cutoff(self.min_cutoff, Self::MEDIAPIPE_WORLD.min_cutoff),
            beta: if self.beta.is_finite() {
                self.beta
            } else {
                0.0
            },
            derivate_cutoff: cutoff(self.derivate_cutoff, 1.0),
        }
    }
}

/// MediaPipe's `LowPassFilter`: `y = α·x + (1 − α)·y_prev`, first value
/// passes through. State is f32, as in MediaPipe.
#[derive(Clone, Debug)]
pub struct LowPass {
    alpha: f32,
    raw: f32,
    stored: f32,
    initialized: bool,
}

impl LowPass {
    /// A low-pass with a fixed α (clamped to [0, 1]; NaN means 1, i.e. no
    /// smoothing).
    pub fn new(alpha: f32) -> Self {
        Self {
            alpha: if alpha.is_nan() {
                1.0
            } else {
                alpha.clamp(0.0, 1.0)
            },
            raw: 0.0,
            stored: 0.0,
            initialized: false,
        }
    }

    /// Filters one value. A non-finite value is returned as is and leaves the
    /// state untouched: one bad sample must not poison every later one.
    pub fn apply(&mut self, value: f32) -> f32 {
        if !value.is_finite() {
            return value;
        }
        let result = if self.initialized {
            (f64::from(self.alpha) * f64::from(value)
                + (1.0 - f64::from(self.alpha)) * f64::from(self.stored)) as f32
        } else {
            self.initialized = true;
            value
        };
        self.raw = value;
        self.stored = result;
        result
    }

    /// Sets α, then filters. Like MediaPipe's `SetAlpha`, an α outside
    /// [0, 1] (or NaN) is ignored and the previous α kept.
    pub fn apply_with_alpha(&mut self, value: f32, alpha: f32) -> f32 {
        if (0.0..=1.0).contains(&alpha) {
            self.alpha = alpha;
        }
        self.apply(value)
    }

    /// Forgets the history: the next value passes through.
    pub fn reset(&mut self) {
        self.initialized = false;
    }

    /// Last output, if any.
    pub fn last_value(&self) -> Option<f32> {
        self.initialized.then_some(self.stored)
    }

    /// Last (finite) input, if any.
    pub fn last_raw_value(&self) -> Option<f32> {
        self.initialized.then_some(self.raw)
    }
}

/// MediaPipe's `OneEuroFilter` for one scalar.
///
/// Behaviour, as in `one_euro_filter.cc`:
/// - time is kept in integer nanoseconds; a timestamp not newer than the
///   last one returns the input unchanged and touches no state;
/// - the frequency starts at [`INITIAL_FREQUENCY_HZ`] and every call sets it
///   to 1/Δt — except when the previous or the new timestamp is exactly 0,
///   MediaPipe's old "unset" value: so after a first sample at t = 0 the
///   second sample still uses 30 Hz (kept for fidelity; it affects one
///   frame);
/// - derivative `d = (x − previous raw x)·value_scale·freq` (0 on the first
///   sample), low-passed with α(derivate_cutoff);
/// - cutoff `fc = min_cutoff + beta·|d̂|`, output low-passed with α(fc),
///   `α(fc) = 1/(1 + freq/(2π·fc))`; the first sample passes through.
///
/// Beyond MediaPipe: non-finite inputs are returned as is without touching
/// the state, and [`OneEuroFilter::apply_weighted`] can discount a sample.
#[derive(Clone, Debug)]
pub struct OneEuroFilter {
    params: OneEuroParams,
    frequency: f64,
    last_time_ns: i64,
    x: LowPass,
    dx: LowPass,
}

impl OneEuroFilter {
    /// A fresh filter.
    pub fn new(params: OneEuroParams) -> Self {
        let params = params.sanitized();
        let mut filter = Self {
            params,
            frequency: INITIAL_FREQUENCY_HZ,
            last_time_ns: UNINITIALIZED_TIME_NS,
            x: LowPass::new(1.0),
            dx: LowPass::new(1.0),
        };
        // MediaPipe seeds both low-passes with α at the initial frequency.
        filter.x = LowPass::new(filter.alpha(params.min_cutoff) as f32);
        filter.dx = LowPass::new(filter.alpha(params.derivate_cutoff) as f32);
        filter
    }

    /// The parameters in use (after sanitizing).
    pub fn params(&self) -> OneEuroParams {
        self.params
    }

    /// Filters `value` observed at `time_s` seconds. `value_scale` multiplies
    /// the derivative (MediaPipe: 1/object_scale for pixels, 1 otherwise).
    pub fn apply(&mut self, time_s: f64, value: f32, value_scale: f32) -> f32 {
        self.apply_weighted(time_s, value, value_scale, 1.0)
    }

    /// As [`OneEuroFilter::apply`], trusting the sample only `weight` of the
    /// way (clamped to [0, 1]; NaN means 1): the input is first replaced by
    /// `x̂ + weight·(x − x̂)`, x̂ the last output, then filtered exactly as
    /// MediaPipe would. Weight 1 is MediaPipe exactly.
    pub fn apply_weighted(
        &mut self,
        time_s: f64,
        value: f32,
        value_scale: f32,
        weight: f32,
    ) -> f32 {
        if !time_s.is_finite() || !value.is_finite() || !value_scale.is_finite() {
            return value;
        }
        // `as` saturates, so absurd times cannot wrap around.
        let new_time_ns = (time_s * NANOS_PER_SECOND).round() as i64;
        if self.last_time_ns >= new_time_ns {
            return value;
        }
        if self.last_time_ns != 0 && new_time_ns != 0 {
            let dt_ns = new_time_ns.saturating_sub(self.last_time_ns);
            self.frequency = 1.0 / (dt_ns as f64 / NANOS_PER_SECOND);
        }
        self.last_time_ns = new_time_ns;

        // Visibility weighting: believe the sample only `weight` of the way
        // from the current estimate, then filter exactly as MediaPipe would.
        // (Scaling α instead would leave the output behind after the
        // landmark reappears: a still raw signal gives no derivative, so the
        // one-euro cutoff collapses and the gap closes over seconds. Here
        // the input itself jumps when trust returns, and the derivative term
        // does the catching up.)
        let weight = if weight.is_nan() {
            1.0
        } else {
            weight.clamp(0.0, 1.0)
        };
        let value = match self.x.last_value() {
            Some(prev) if weight < 1.0 => {
                (f64::from(prev) + f64::from(weight) * (f64::from(value) - f64::from(prev))) as f32
            }
            _ => value,
        };

        let dvalue = match self.x.last_raw_value() {
            Some(last_raw) => {
                (f64::from(value) - f64::from(last_raw)) * f64::from(value_scale) * self.frequency
            }
            None => 0.0,
        };
        let alpha_d = self.alpha(self.params.derivate_cutoff) as f32;
        // Finite operands and Δt ≥ 1 ns keep `dvalue` finite in f64; clamp so
        // the f32 state cannot overflow to ±inf either (an enormous jump
        // then simply means α ≈ 1).
        let dvalue = dvalue.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32;
        let edvalue = f64::from(self.dx.apply_with_alpha(dvalue, alpha_d));
        let cutoff = self.params.min_cutoff + self.params.beta * edvalue.abs();
        let alpha = self.alpha(cutoff) as f32;
        self.x.apply_with_alpha(value, alpha)
    }

    /// Forgets everything, as MediaPipe does on a frame without a pose.
    pub fn reset(&mut self) {
        *self = Self::new(self.params);
    }

    /// Last output, if any.
    pub fn last_value(&self) -> Option<f32> {
        self.x.last_value()
    }

    /// MediaPipe's `GetAlpha`: 1/(1 + τ/Te) with τ = 1/(2π·fc), Te = 1/freq.
    fn alpha(&self, cutoff: f64) -> f64 {
        let te = 1.0 / self.frequency;
        let tau = 1.0 / (2.0 * std::f64::consts::PI * cutoff);
        1.0 / (1.0 + tau / te)
    }
}
