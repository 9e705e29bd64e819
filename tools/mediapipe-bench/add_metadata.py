"""Add TFLite image-input metadata (NormalizationOptions) to the BlazePose .tflite
files so the MediaPipe Tasks API accepts them. Run with a Python that has
tflite-support installed (kept out of the mediapipe venv to avoid protobuf clashes).
usage: add_metadata.py IN.tflite OUT.tflite MEAN STD NAME"""
import sys
from tensorflow_lite_support.metadata.python.metadata_writers import metadata_info, metadata_writer, writer_utils
from tensorflow_lite_support.metadata import metadata_schema_py_generated as _fb

src, dst, mean, std, name = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
buf = writer_utils.load_file(src)
n_out = len(writer_utils.get_output_tensor_types(buf))
in_md = metadata_info.InputImageTensorMd(
    name="image", description="RGB input image",
    norm_mean=[mean], norm_std=[std],
    color_space_type=_fb.ColorSpaceType.RGB,
    tensor_type=writer_utils.get_input_tensor_types(buf)[0])
out_md = [metadata_info.TensorMd(name=f"output_{i}") for i in range(n_out)]
general = metadata_info.GeneralMd(name=name, version="1", description=name)
w = metadata_writer.MetadataWriter.create_from_metadata_info(
    buf, general_md=general, input_md=[in_md], output_md=out_md)
writer_utils.save_file(w.populate(), dst)
print("wrote", dst, "outputs:", n_out)
