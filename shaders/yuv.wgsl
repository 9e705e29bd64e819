// Shared by every kernel that reads a decoded frame: the frame's planes
// packed four bytes to a u32, where they sit, and the YUV -> RGB matrix.
// Prepended to crop.wgsl and rgb.wgsl when their pipelines are built
// (WGSL has no include). The CPU twin of these functions is
// `Frame::sample_rgb` in src/video/frame.rs with the coefficients of
// `video::sample::Coefficients`: the same taps and arithmetic.

struct FrameParams {
    // Stored (not upright) luma size in pixels.
    width: u32,
    height: u32,
    // Byte offsets and strides of the planes inside `planes`.
    y_offset: u32,
    y_stride: u32,
    u_offset: u32,
    v_offset: u32,
    uv_stride: u32,
    // Bytes between horizontally adjacent chroma samples: 1 for planar
    // I420, 2 for NV12 (U and V interleaved, v_offset = u_offset + 1).
    uv_step: u32,
    // Upright -> stored pixel coordinates: stored = origin + x*ax + y*ay.
    origin: vec2<f32>,
    ax: vec2<f32>,
    ay: vec2<f32>,
    // Upright size, for "is this sample inside the picture".
    upright: vec2<f32>,
    // YUV code values -> RGB 0..255 (see video::sample::Coefficients).
    y_black: f32,
    y_gain: f32,
    r_v: f32,
    g_u: f32,
    g_v: f32,
    b_u: f32,
    _pad0: f32,
    _pad1: f32,
}

@group(0) @binding(0) var<storage, read> planes: array<u32>;
@group(0) @binding(1) var<uniform> frame: FrameParams;

fn byte_at(i: u32) -> f32 {
    return f32((planes[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

// Bilinear tap of one plane with replicated borders.
fn tap(base: u32, stride: u32, step: u32, pw: u32, ph: u32, x: f32, y: f32) -> f32 {
    let xc = clamp(x, 0.0, f32(pw - 1u));
    let yc = clamp(y, 0.0, f32(ph - 1u));
    let x0 = u32(xc);
    let y0 = u32(yc);
    let x1 = min(x0 + 1u, pw - 1u);
    let y1 = min(y0 + 1u, ph - 1u);
    let fx = xc - f32(x0);
    let fy = yc - f32(y0);
    let r0 = base + y0 * stride;
    let r1 = base + y1 * stride;
    let a = byte_at(r0 + x0 * step);
    let b = byte_at(r0 + x1 * step);
    let c = byte_at(r1 + x0 * step);
    let d = byte_at(r1 + x1 * step);
    let top = a + (b - a) * fx;
    let bot = c + (d - c) * fx;
    return top + (bot - top) * fy;
}

// RGB 0..255 at an upright pixel position, bilinear, replicated border.
fn rgb_at(upright: vec2<f32>) -> vec3<f32> {
    let s = frame.origin + upright.x * frame.ax + upright.y * frame.ay;
    let luma = tap(frame.y_offset, frame.y_stride, 1u, frame.width, frame.height, s.x, s.y);
    let cw = (frame.width + 1u) / 2u;
    let ch = (frame.height + 1u) / 2u;
    // Chroma samples sit at the centre of each 2x2 luma block.
    let cx = (s.x + 0.5) * 0.5 - 0.5;
    let cy = (s.y + 0.5) * 0.5 - 0.5;
    let u = tap(frame.u_offset, frame.uv_stride, frame.uv_step, cw, ch, cx, cy) - 128.0;
    let v = tap(frame.v_offset, frame.uv_stride, frame.uv_step, cw, ch, cx, cy) - 128.0;
    let yy = (luma - frame.y_black) * frame.y_gain;
    let r = yy + frame.r_v * v;
    let g = yy + frame.g_u * u + frame.g_v * v;
    let b = yy + frame.b_u * u;
    return clamp(vec3<f32>(r, g, b), vec3<f32>(0.0), vec3<f32>(255.0));
}

fn inside(p: vec2<f32>) -> bool {
    return p.x >= 0.0 && p.y >= 0.0 && p.x <= frame.upright.x - 1.0 && p.y <= frame.upright.y - 1.0;
}
