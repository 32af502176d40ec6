#!/usr/bin/env python3
"""Test-only face check (never used by the product): is a face found on a before/after rendering
that ctdeid wrote to its QA folder (two frontal skin renderings side by side, a gray bar between),
and does what is found after removal match the face before?

dlib's HOG face detector (on the image upscaled 1x and 2x by dlib) and its CNN (MMOD) one, and dlib's
ResNet face embedding (face_recognition_models); a match is an embedding distance below 0.6, the
model's own threshold. The rendering is enlarged 2x first (it has 1 mm pixels: a face about 140 px
wide, small for the detectors). Prints one JSON object; exit 0, or 3 when dlib cannot be imported.

    face_check.py QA_PNG
"""
import json
import sys

try:
    import dlib
    import face_recognition_models as models
    import numpy as np
    from PIL import Image
except ImportError as error:
    print(json.dumps({"error": f"face check unavailable: {error}"}))
    sys.exit(3)

MATCH = 0.6


def halves(path):
    image = Image.open(path).convert("RGB")
    width, height = image.size
    gray = np.array(image.convert("L"))
    # The bar between the two renderings: the column band of gray level 96 nearest the middle.
    columns = [x for x in range(width) if (gray[:, x] == 96).all()]
    middle = min(columns, key=lambda x: abs(x - width // 2)) if columns else width // 2
    left = min((x for x in columns if abs(x - middle) < 8), default=middle)
    right = max((x for x in columns if abs(x - middle) < 8), default=middle)
    return image.crop((0, 0, left, height)), image.crop((right + 1, 0, width, height))


def main():
    hog = dlib.get_frontal_face_detector()
    cnn = dlib.cnn_face_detection_model_v1(models.cnn_face_detector_model_location())
    shape = dlib.shape_predictor(models.pose_predictor_model_location())
    embedding = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    found = {}
    for name, half in zip(["before", "after"], halves(sys.argv[1])):
        pixels = np.array(half.resize((2 * half.width, 2 * half.height), Image.LANCZOS))
        # HOG at both scales, the CNN (slow on a CPU: about 6 s a picture here) at the picture's own.
        rects = [("hog", upsample, r) for upsample in (1, 2) for r in hog(pixels, upsample)]
        rects += [("cnn", 1, d.rect) for d in cnn(pixels, 1)]
        found[name] = (pixels, rects)
    result = {side: [f"{kind} x{up}" for kind, up, _ in found[side][1]] for side in found}
    distances = []
    if found["before"][1] and found["after"][1]:
        pixels, rects = found["before"]
        reference = np.array(embedding.compute_face_descriptor(pixels, shape(pixels, rects[0][2])))
        pixels, rects = found["after"]
        for _, _, rect in rects:
            vector = np.array(embedding.compute_face_descriptor(pixels, shape(pixels, rect)))
            distances.append(round(float(np.linalg.norm(vector - reference)), 3))
    result["distances"] = distances
    result["match"] = any(d < MATCH for d in distances)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
