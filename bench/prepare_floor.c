/* The libvips floor of the prepare benchmark: the CPU time of the work `tessera prepare` cannot
 * leave out of one source with libvips, timed alone. For each image it writes, at the benchmark's
 * settings (tiles 512/100, 2 augmented copies, PNG at zlib level 1 without row filters):
 *
 *   - each tile, from memory, as PNG;
 *   - each copy, warped bilinearly (rotation within ±45°, shift within ±20 %), straight into PNG;
 *   - each mask tile as PNG, and each mask copy warped by nearest neighbour into PNG.
 *
 * Decoding, gray-world, histograms, file renames and the manifest are left out, so the sum is a
 * lower bound of prepare's CPU time per source. Prints one JSON line with CPU seconds per source
 * (process CPU time, which counts libvips' worker threads), the median over the images given.
 *
 *     cc -O2 prepare_floor.c -o prepare_floor $(pkg-config --cflags --libs vips) -lm
 *     prepare_floor OUT_FOLDER IMAGE MASK [IMAGE MASK ...]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <vips/vips.h>

enum { TILE = 512, OVERLAP = 100, COPIES = 2 };

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Tile origins along one axis: stride TILE - OVERLAP, the last tile aligned to the edge. */
static int starts(int length, int *out) {
    if (length <= TILE) { out[0] = 0; return 1; }
    int stride = TILE - OVERLAP, count = (length - TILE + stride - 1) / stride + 1;
    for (int i = 0; i < count - 1; i++) out[i] = i * stride;
    out[count - 1] = length - TILE;
    return count;
}

static int save(VipsImage *image, const char *folder, const char *kind, int index) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%04d.png", folder, kind, index);
    return vips_pngsave(image, path, "compression", 1, "filter", VIPS_FOREIGN_PNG_FILTER_NONE, "strip", TRUE, NULL);
}

/* Warps `in` by a random rotation and shift, like one augmented copy, and saves the result. */
static int warp_and_save(VipsImage *in, VipsInterpolate *interpolate, VipsArrayDouble *background,
                         VipsArrayInt *area, const char *folder, const char *kind, int index) {
    double radians = (drand48() * 90 - 45) * M_PI / 180, c = cos(radians), s = sin(radians);
    double centre = (TILE - 1) / 2.0, dx = (drand48() - 0.5) * 0.4 * TILE, dy = (drand48() - 0.5) * 0.4 * TILE;
    VipsImage *out;
    if (vips_affine(in, &out, c, -s, s, c, "interpolate", interpolate,
                    "odx", centre - c * centre + s * centre + dx, "ody", centre - s * centre - c * centre + dy,
                    "oarea", area, "background", background, "extend", VIPS_EXTEND_BACKGROUND, NULL)) return -1;
    int result = save(out, folder, kind, index);
    g_object_unref(out);
    return result;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (VIPS_INIT(argv[0])) vips_error_exit(NULL);
    if (argc < 4 || (argc - 2) % 2) {
        fprintf(stderr, "usage: %s OUT_FOLDER IMAGE MASK [IMAGE MASK ...]\n", argv[0]);
        return 2;
    }
    vips_concurrency_set(1);   /* as prepare: one pipeline thread per worker */
    vips_cache_set_max(0);
    srand48(1);
    const char *folder = argv[1];
    int sources = (argc - 2) / 2;
    double *per_source = calloc(sources, sizeof(double)), phase[4] = {0, 0, 0, 0};
    VipsInterpolate *bilinear = vips_interpolate_new("bilinear"), *nearest = vips_interpolate_new("nearest");
    double zero = 0, mean[3] = {152, 152, 152};
    VipsArrayDouble *mean_fill = vips_array_double_new(mean, 3), *zero_fill = vips_array_double_new(&zero, 1);
    VipsArrayInt *area = vips_array_int_newv(4, 0, 0, TILE, TILE);
    int written = 0;
    for (int n = 0; n < sources; n++) {
        VipsImage *file = vips_image_new_from_file(argv[2 + 2 * n], NULL);
        VipsImage *mask_file = vips_image_new_from_file(argv[3 + 2 * n], NULL);
        if (!file || !mask_file) vips_error_exit(NULL);
        VipsImage *image = vips_image_copy_memory(file), *mask = vips_image_copy_memory(mask_file);
        g_object_unref(file);
        g_object_unref(mask_file);
        if (!image || !mask) vips_error_exit(NULL);
        int xs[64], ys[64], nx = starts(image->Xsize, xs), ny = starts(image->Ysize, ys);
        for (int j = 0; j < ny; j++) {
            for (int i = 0; i < nx; i++) {
                VipsImage *view, *tile, *mask_tile;
                if (vips_crop(image, &view, xs[i], ys[j], TILE, TILE, NULL)) vips_error_exit(NULL);
                tile = vips_image_copy_memory(view);
                g_object_unref(view);
                if (vips_crop(mask, &view, xs[i], ys[j], TILE, TILE, NULL)) vips_error_exit(NULL);
                mask_tile = vips_image_copy_memory(view);
                g_object_unref(view);
                double t0 = cpu_seconds();
                if (save(tile, folder, "tile", written)) vips_error_exit(NULL);
                double t1 = cpu_seconds();
                for (int k = 0; k < COPIES; k++)
                    if (warp_and_save(tile, bilinear, mean_fill, area, folder, "copy", written * COPIES + k)) vips_error_exit(NULL);
                double t2 = cpu_seconds();
                if (save(mask_tile, folder, "mask", written)) vips_error_exit(NULL);
                double t3 = cpu_seconds();
                for (int k = 0; k < COPIES; k++)
                    if (warp_and_save(mask_tile, nearest, zero_fill, area, folder, "maskcopy", written * COPIES + k)) vips_error_exit(NULL);
                double t4 = cpu_seconds();
                phase[0] += t1 - t0;
                phase[1] += t2 - t1;
                phase[2] += t3 - t2;
                phase[3] += t4 - t3;
                per_source[n] += t4 - t0;
                g_object_unref(tile);
                g_object_unref(mask_tile);
                written++;
            }
        }
        g_object_unref(image);
        g_object_unref(mask);
    }
    qsort(per_source, sources, sizeof(double), compare);
    double median = sources % 2 ? per_source[sources / 2] : (per_source[sources / 2 - 1] + per_source[sources / 2]) / 2;
    printf("{\"floor_cpu_s_per_source\": %.4f, \"tile_png\": %.4f, \"copy_warp_png\": %.4f, \"mask_png\": %.4f, "
           "\"mask_copy_warp_png\": %.4f, \"sources\": %d}\n",
           median, phase[0] / sources, phase[1] / sources, phase[2] / sources, phase[3] / sources, sources);
    return 0;
}
