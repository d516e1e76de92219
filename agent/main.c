#include <stdio.h>

int main(void)
{
    puts("regent " REGENT_VERSION);
    return 0;
}
