// FFTW 3, single precision (Debian's libfftw3-dev): real-to-complex and complex-to-real plans,
// executed on new arrays (thread-safe); planning is not and is serialised by the caller.
#include <fftw3.h>
// FFTW's flags are shift macros; spelled out here as constants Swift imports.
static const unsigned amalgam_fftw_estimate = FFTW_ESTIMATE;
static const unsigned amalgam_fftw_unaligned = FFTW_UNALIGNED;
static const unsigned amalgam_fftw_destroy_input = FFTW_DESTROY_INPUT;
