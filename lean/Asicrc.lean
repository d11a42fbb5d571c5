import Asicrc.Sum
import Asicrc.Predict
import Asicrc.Cost
import Asicrc.Gate
import Asicrc.Puf
import Asicrc.Examples
