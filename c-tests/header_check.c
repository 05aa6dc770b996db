/* Compiled as C99 and as C++11 with -Wall -Wextra -Werror -pedantic by
 * `make check-cxx`: the header and every *_INIT macro must be warning-free. */
#include <pidkit.h>

int main(void)
{
    pidkit_proc_info i = PIDKIT_PROC_INFO_INIT;
    pidkit_pidfile_opts p = PIDKIT_PIDFILE_OPTS_INIT;
    pidkit_detach_opts d = PIDKIT_DETACH_OPTS_INIT;
    pidkit_spawn_opts s = PIDKIT_SPAWN_OPTS_INIT;
    return (int)(i.size + p.size + d.size + s.size) == 0;
}
