from skingan.cli import main

raise SystemExit(main())
