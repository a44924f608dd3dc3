/** An OCI layout folder (read by src/layout) with its index.json entries as `ArchiveImage`s, for load. */
import type { ImageSource } from '../copy/transport.js';
import { openLayout } from '../layout/source.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME } from '../oci/annotations.js';
import type { ArchiveImage } from './docker-archive.js';

/** A source with the images its index lists. */
export type ImagesSource = ImageSource & { images: ArchiveImage[]; close(): Promise<void> };

/** Opens a layout folder and lists index.json's entries with their ref and image names. */
export async function openLayoutFolderImages(dir: string): Promise<ImagesSource> {
  const layout = await openLayout(dir);
  try {
    const { index } = await layout.readIndex();
    const images: ArchiveImage[] = index.manifests.map((desc) => ({
      descriptor: desc,
      refName: desc.annotations?.[ANNOTATION_REF_NAME],
      imageNames: desc.annotations?.[ANNOTATION_IMAGE_NAME] ? [desc.annotations[ANNOTATION_IMAGE_NAME]] : [],
    }));
    return Object.assign(layout, { images }) as ImagesSource;
  } catch (err) {
    await layout.close();
    throw err;
  }
}
