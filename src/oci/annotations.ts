/** Annotation keys ocitool reads and writes (image-spec annotations.md, containerd). */

/** The ref of an image inside an OCI layout's index.json (a tag such as `16.04`, or a full name). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd's full image name on an index.json entry (docker save writes it too). */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
