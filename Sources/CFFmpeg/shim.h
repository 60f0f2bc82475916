#ifndef FILMRESTORE_CFFMPEG_SHIM_H
#define FILMRESTORE_CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/mathematics.h>
#include <libavutil/sha.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>

/* FFmpeg's function-like macros are invisible to Swift; these expose them. */

static inline int fr_averror(int e) { return AVERROR(e); }
static inline int fr_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int fr_averror_eof(void) { return AVERROR_EOF; }
static inline int fr_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int fr_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int fr_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }
static inline int64_t fr_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational fr_time_base_q(void) { return AV_TIME_BASE_Q; }
static inline int fr_time_base(void) { return AV_TIME_BASE; }

/* Fills buf with FFmpeg's description of an error code. */
static inline void fr_strerror(int err, char *buf, size_t size) {
    if (av_strerror(err, buf, size) < 0) {
        snprintf(buf, size, "unknown error %d", err);
    }
}

/* Rotation in degrees (counter-clockwise as FFmpeg reports it) from a stream's display matrix,
   or 0 when the stream has none. */
static inline double fr_stream_rotation(const AVStream *st) {
    size_t size = 0;
    const uint8_t *sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (!sd || size < 9 * sizeof(int32_t)) return 0.0;
    double r = av_display_rotation_get((const int32_t *)sd);
    return isnan(r) ? 0.0 : r;
}

static inline int fr_frame_is_interlaced(const AVFrame *f) { return f->interlaced_frame; }
static inline int fr_frame_top_field_first(const AVFrame *f) { return f->top_field_first; }

/* Chapters: the output context owns a realloc'd array of av_mallocz'd chapters, as fftools does. */
/* offset_us: the start offset (in AV_TIME_BASE units) removed from every stream of the output. */
static inline int fr_copy_chapters(AVFormatContext *out, const AVFormatContext *in, int64_t offset_us) {
    if (in->nb_chapters == 0) return 0;
    AVChapter **tmp = av_realloc_array(out->chapters, out->nb_chapters + in->nb_chapters, sizeof(*out->chapters));
    if (!tmp) return AVERROR(ENOMEM);
    out->chapters = tmp;
    for (unsigned i = 0; i < in->nb_chapters; i++) {
        const AVChapter *ic = in->chapters[i];
        AVChapter *oc = av_mallocz(sizeof(AVChapter));
        if (!oc) return AVERROR(ENOMEM);
        int64_t off = av_rescale_q(offset_us, AV_TIME_BASE_Q, ic->time_base);
        oc->id = ic->id;
        oc->time_base = ic->time_base;
        oc->start = ic->start - off;
        oc->end = ic->end - off;
        int r = av_dict_copy(&oc->metadata, ic->metadata, 0);
        out->chapters[out->nb_chapters++] = oc;
        if (r < 0) return r;
    }
    return 0;
}

#endif
