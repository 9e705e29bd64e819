// The whole frame to upright RGBA8 (one u32 per pixel, alpha 255), for
// previews and overlays. CPU twin: gpu::rgb::rgb_image_cpu
// (Frame::sample_rgb at every pixel, rounded).

struct Size {
    width: u32,
    height: u32,
}

@group(0) @binding(2) var<uniform> size: Size;
@group(0) @binding(3) var<storage, read_write> pixels: array<u32>;

@compute @workgroup_size(8, 8, 1)
fn rgb(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= size.width || id.y >= size.height) {
        return;
    }
    let c = rgb_at(vec2<f32>(f32(id.x), f32(id.y)));
    pixels[id.y * size.width + id.x] = pack4x8unorm(vec4<f32>(c / 255.0, 1.0));
}
