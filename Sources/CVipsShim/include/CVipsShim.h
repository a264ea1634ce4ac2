// Fixed-arity wrappers for the variadic libvips calls Tessera uses.
// Swift cannot call C variadic functions; each wrapper forwards its arguments
// to one libvips call and holds no logic of its own.
#ifndef TESSERA_CVIPSSHIM_H
#define TESSERA_CVIPSSHIM_H

#include <vips/vips.h>

// Loading and saving
VipsImage *tsr_load_file(const char *path, int sequential);
int tsr_pngsave(VipsImage *in, const char *path, int compression, int bitdepth, int filter);
int tsr_pngsave_interlaced(VipsImage *in, const char *path);
int tsr_jpegsave(VipsImage *in, const char *path, int quality);
int tsr_tiffsave(VipsImage *in, const char *path);
int tsr_webpsave(VipsImage *in, const char *path, int quality, int lossless);

// Format and colour
int tsr_cast(VipsImage *in, VipsImage **out, VipsBandFormat format);
int tsr_colourspace(VipsImage *in, VipsImage **out, VipsInterpretation space);
int tsr_copy_interpretation(VipsImage *in, VipsImage **out, VipsInterpretation space);
int tsr_extract_band(VipsImage *in, VipsImage **out, int band, int n);
int tsr_bandjoin2(VipsImage *a, VipsImage *b, VipsImage **out);
int tsr_linear(VipsImage *in, VipsImage **out, const double *a, const double *b, int n);
int tsr_linear_uchar(VipsImage *in, VipsImage **out, const double *a, const double *b, int n);

// Geometry
int tsr_embed(VipsImage *in, VipsImage **out, int x, int y, int width, int height,
              VipsExtend extend, const double *background, int n);
int tsr_extract_area(VipsImage *in, VipsImage **out, int left, int top, int width, int height);
int tsr_flip(VipsImage *in, VipsImage **out, VipsDirection direction);
int tsr_affine(VipsImage *in, VipsImage **out, double a, double b, double c, double d,
               double odx, double ody, int ox, int oy, int owidth, int oheight,
               VipsInterpolate *interpolate, const double *background, int n);
int tsr_resize(VipsImage *in, VipsImage **out, double scale, VipsKernel kernel);
int tsr_resize_xy(VipsImage *in, VipsImage **out, double hscale, double vscale, VipsKernel kernel);

// Statistics
int tsr_stats(VipsImage *in, VipsImage **out);
int tsr_hist_find(VipsImage *in, VipsImage **out, int band);
int tsr_hist_find_indexed(VipsImage *in, VipsImage *index, VipsImage **out);
int tsr_max(VipsImage *in, double *out);
int tsr_min(VipsImage *in, double *out);

// Pixel arithmetic and logic
int tsr_relational_const1(VipsImage *in, VipsImage **out, VipsOperationRelational op, double c);
int tsr_relational(VipsImage *a, VipsImage *b, VipsImage **out, VipsOperationRelational op);
int tsr_ifthenelse(VipsImage *cond, VipsImage *in1, VipsImage *in2, VipsImage **out, int blend);
int tsr_add(VipsImage *a, VipsImage *b, VipsImage **out);
int tsr_boolean(VipsImage *a, VipsImage *b, VipsImage **out, VipsOperationBoolean op);
int tsr_maplut(VipsImage *in, VipsImage **out, VipsImage *lut);

// Filters
int tsr_rank(VipsImage *in, VipsImage **out, int width, int height, int index);

// Rendering
int tsr_arrayjoin(VipsImage **in, VipsImage **out, int n, int across, int shim, double background);
VipsImage *tsr_svgload_buffer(const void *data, size_t length, double dpi);

#endif
