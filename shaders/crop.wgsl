// Model inputs from a frame: each invocation writes one RGB pixel of one
// n x n NHWC f32 tensor, sampling the rotated square of its crop
// bilinearly and mapping 0..255 to the model's range. The detector's
// letterbox is a crop too (an unrotated square with zero fill), so one
// dispatch prepares the detector input and every person's landmark input.
// CPU twin: pose::crop::crop_square (src/pose/crop.rs).

struct Crop {
    // Tensor pixel (u, v) samples origin + u*du + v*dv (upright pixels).
    origin: vec2<f32>,
    du: vec2<f32>,
    dv: vec2<f32>,
    n: u32,
    // First f32 of this crop's tensor in `tensors`.
    out_offset: u32,
    // Model range: value = rgb * scale + offset.
    scale: f32,
    offset: f32,
    // 1: samples outside the picture take `fill`; 0: the nearest edge pixel.
    use_fill: u32,
    fill: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(2) var<storage, read> crops: array<Crop>;
@group(0) @binding(3) var<storage, read_write> tensors: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn crop(@builtin(global_invocation_id) id: vec3<u32>) {
    let c = crops[id.z];
    if (id.x >= c.n || id.y >= c.n) {
        return;
    }
    let p = c.origin + f32(id.x) * c.du + f32(id.y) * c.dv;
    var value = vec3<f32>(c.fill);
    if (c.use_fill == 0u || inside(p)) {
        value = rgb_at(p) * c.scale + vec3<f32>(c.offset);
    }
    let o = c.out_offset + (id.y * c.n + id.x) * 3u;
    tensors[o] = value.x;
    tensors[o + 1u] = value.y;
    tensors[o + 2u] = value.z;
}
