#!/bin/bash
# after the two forecasts: members 1 and 2 with factor 0.1
while [ $(grep -c "forecast done" /tmp/s24/times) -lt 2 ]; do sleep 10; done
/tmp/s24/lr.sh 1 0.1 & /tmp/s24/lr.sh 2 0.1 & wait
