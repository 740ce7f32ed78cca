// libsoxr (Debian's libsoxr-dev): the SoX resampler, the one librosa uses by default
// (res_type "soxr_hq"). Its quality recipes are macros; spelled out here as constants Swift imports.
#include <soxr.h>
static const unsigned long amalgam_soxr_hq = SOXR_HQ;
static const unsigned long amalgam_soxr_vhq = SOXR_VHQ;
